'use strict';
// Publishes hyper-sse as napi-rs projects do (`napi prepublish`): one package per
// platform carrying its .node binary (npm/<platform>/ plus the built file), then the
// JS-only root package, whose published manifest lists the platform packages in
// optionalDependencies so `npm install hyper-sse` fetches the one that fits the
// machine. The checkout is never modified: each package is staged in a temp dir.
//
//   node scripts/publish.js [--registry <url>] [--dry-run]
//
// Build first (npm run build). Auth comes from npm's own config (.npmrc, or
// NPM_CONFIG_USERCONFIG).

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const ROOT = path.resolve(__dirname, '..');

function npm(cwd, args) {
  return execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 300000 });
}

function publish(dir, extra) {
  npm(dir, ['publish', '--ignore-scripts', ...extra]);
}

function main(argv) {
  const extra = [];
  const registry = argv.indexOf('--registry');
  if (registry !== -1) extra.push('--registry', argv[registry + 1]);
  if (argv.includes('--dry-run')) extra.push('--dry-run');

  const rootPkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'hyper-sse-publish-'));
  try {
    const optional = {};
    for (const platform of fs.readdirSync(path.join(ROOT, 'npm'))) {
      const dir = path.join(ROOT, 'npm', platform);
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
      if (pkg.version !== rootPkg.version) throw new Error(`npm/${platform}: version ${pkg.version} is not the root's ${rootPkg.version}`);
      const binary = `${rootPkg.napi.binaryName}.${platform}.node`;
      if (!fs.existsSync(path.join(ROOT, binary))) throw new Error(`${binary} is not built here (npm run build on that platform)`);
      const staged = path.join(stage, platform);
      fs.cpSync(dir, staged, { recursive: true });
      fs.copyFileSync(path.join(ROOT, binary), path.join(staged, binary));
      publish(staged, extra);
      optional[pkg.name] = pkg.version;
      console.log(`published ${pkg.name}@${pkg.version}`);
    }

    // The root: the files `npm pack` would take from the checkout, with the manifest
    // that names the platform packages.
    const [dry] = JSON.parse(npm(ROOT, ['pack', '--dry-run', '--json', '--ignore-scripts']));
    const staged = path.join(stage, 'root');
    for (const { path: rel } of dry.files) {
      fs.mkdirSync(path.dirname(path.join(staged, rel)), { recursive: true });
      fs.copyFileSync(path.join(ROOT, rel), path.join(staged, rel));
    }
    const manifest = { ...rootPkg, optionalDependencies: { ...rootPkg.optionalDependencies, ...optional } };
    delete manifest.devDependencies;
    fs.writeFileSync(path.join(staged, 'package.json'), JSON.stringify(manifest, null, 2) + '\n');
    publish(staged, extra);
    console.log(`published ${rootPkg.name}@${rootPkg.version}`);
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
}

if (require.main === module) main(process.argv.slice(2));
module.exports = { main };
