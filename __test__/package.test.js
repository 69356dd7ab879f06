'use strict';
// The package as users get it: the root package (JS only) plus the per-platform package
// that carries the .node binary, packed with `npm pack` the way `napi prepublish` would
// publish them, installed into a scratch app from the tarballs (offline, no registry),
// then a child process that require()s 'hyper-sse' serves one SSE response.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const http = require('node:http');
const { execFileSync, spawn } = require('node:child_process');

const ROOT = path.resolve(__dirname, '..');
const PLATFORM = 'linux-x64-gnu';
const supported = process.platform === 'linux' && process.arch === 'x64' && !isMusl();

function isMusl() {
  try {
    return fs.readFileSync('/usr/bin/ldd', 'utf8').includes('musl');
  } catch {
    return false;
  }
}

// npm's own npm_* variables (set when this runs under `npm test`) must not leak into the
// npm we run, and node --test's NODE_TEST_CONTEXT must not leak into the app.
const cleanEnv = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) && k !== 'NODE_TEST_CONTEXT'),
);

/** Runs npm (blocking: none of these steps talk to our server). Returns stdout. */
function npm(cwd, args) {
  try {
    return execFileSync('npm', args, { cwd, env: cleanEnv, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120000 });
  } catch (err) {
    throw new Error(`npm ${args.join(' ')} failed in ${cwd}:\n${err.stdout || ''}\n${err.stderr || err.message}`);
  }
}

/** `npm pack` in `dir` into `dest`; returns { file, files } (tarball path, packed paths). */
function pack(dir, dest) {
  const [info] = JSON.parse(npm(dir, ['pack', '--json', '--ignore-scripts', '--pack-destination', dest]));
  return { file: path.join(dest, info.filename), files: info.files.map((f) => f.path) };
}

/**
 * The root package's runtime dependencies, and theirs, packed from node_modules into
 * `dest`, so the scratch install stays offline. Returns the tarball paths.
 */
function packDependencies(rootPkg, dest) {
  const seen = new Set();
  const files = [];
  const visit = (deps) => {
    for (const name of Object.keys(deps || {})) {
      if (seen.has(name)) continue;
      seen.add(name);
      const dir = path.join(ROOT, 'node_modules', name);
      files.push(pack(dir, dest).file);
      visit(JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).dependencies);
    }
  };
  visit(rootPkg.dependencies);
  return files;
}

/** Every file under `dir`, relative paths. */
function listFiles(dir) {
  return fs.readdirSync(dir, { recursive: true }).filter((p) => fs.statSync(path.join(dir, p)).isFile());
}

const APP = `'use strict';
const hyper = require('hyper-sse');
const server = new hyper.Server();
server.get('/events', (req, res) => {
  res.sse.open();
  res.sse.send('id1', 'greet', 'hello\\nworld');
  res.sse.close();
});
server.listen(0, '127.0.0.1').then((port) => {
  const addons = Object.keys(require.cache).filter((f) => f.endsWith('.node'));
  process.stdout.write(JSON.stringify({ port, addons, entry: require.resolve('hyper-sse') }) + '\\n');
  // The test ends stdin once it has its response: then close and let the process exit.
  process.stdin.on('end', async () => {
    await server.close();
    process.stdout.write('closed\\n');
  });
  process.stdin.resume();
}, (err) => {
  console.error(err);
  process.exitCode = 1;
});
`;

/** Resolves with the first stdout line of `child`; rejects if it exits first or after `ms`. */
function firstLine(child, ms) {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr.on('data', (c) => (err += c));
    const onData = (c) => {
      out += c;
      const nl = out.indexOf('\n');
      if (nl !== -1) finish(null, out.slice(0, nl));
    };
    const onExit = (code, signal) => finish(new Error(`app exited (code ${code}, signal ${signal}) before printing its port:\n${out}\n${err}`));
    const timer = setTimeout(() => finish(new Error(`app printed no port within ${ms} ms:\n${out}\n${err}`)), ms);
    function finish(error, line) {
      clearTimeout(timer);
      child.stdout.off('data', onData);
      child.off('exit', onExit);
      if (error) reject(error);
      else resolve(line);
    }
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', onData);
    child.on('exit', onExit);
  });
}

/** GET over node:http; resolves { status, headers, body }. */
function get(port, urlPath) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout(15000, () => req.destroy(new Error('no complete response within 15 s')));
    req.on('error', reject);
  });
}

test(
  'published packages: JS-only root + platform binary package install from tarballs and serve SSE',
  { timeout: 180000, skip: supported ? false : `the ${PLATFORM} package only installs on linux x64 glibc` },
  async (t) => {
    const rootPkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    const platformDir = path.join(ROOT, 'npm', PLATFORM);
    const platformPkg = JSON.parse(fs.readFileSync(path.join(platformDir, 'package.json'), 'utf8'));
    const binaryName = `${rootPkg.napi.binaryName}.${PLATFORM}.node`;
    const builtBinary = path.join(ROOT, binaryName);
    assert.ok(fs.existsSync(builtBinary), `${binaryName} is not built; run npm run build`);
    assert.equal(platformPkg.name, `${rootPkg.name}-${PLATFORM}`);
    assert.equal(platformPkg.version, rootPkg.version, `npm/${PLATFORM}/package.json version must match the root version`);
    assert.equal(platformPkg.main, binaryName);

    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hyper-sse-pkg-'));
    t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
    const tarballs = path.join(tmp, 'tarballs');
    fs.mkdirSync(tarballs);

    // 1. The platform package: npm/<platform>/* plus the built binary.
    const platformStage = path.join(tmp, 'platform');
    fs.cpSync(platformDir, platformStage, { recursive: true });
    fs.copyFileSync(builtBinary, path.join(platformStage, binaryName));
    const platformTgz = pack(platformStage, tarballs);
    assert.ok(platformTgz.files.includes(binaryName), `platform tarball lacks ${binaryName}: ${platformTgz.files}`);

    // 2. The root package: the files npm would publish from the repo, with the
    //    optionalDependencies `napi prepublish` adds.
    const [dry] = JSON.parse(npm(ROOT, ['pack', '--dry-run', '--json', '--ignore-scripts']));
    const rootStage = path.join(tmp, 'root');
    for (const { path: rel } of dry.files) {
      fs.mkdirSync(path.dirname(path.join(rootStage, rel)), { recursive: true });
      fs.copyFileSync(path.join(ROOT, rel), path.join(rootStage, rel));
    }
    const published = { ...rootPkg, optionalDependencies: { ...rootPkg.optionalDependencies, [platformPkg.name]: rootPkg.version } };
    fs.writeFileSync(path.join(rootStage, 'package.json'), JSON.stringify(published, null, 2) + '\n');
    const rootTgz = pack(rootStage, tarballs);
    for (const f of ['package.json', 'index.js', 'binding.js', 'lib/native.js']) {
      assert.ok(rootTgz.files.includes(f), `root tarball lacks ${f}: ${rootTgz.files}`);
    }
    assert.deepEqual(rootTgz.files.filter((f) => f.endsWith('.node')), [], 'the root tarball must not carry a .node binary');

    // 3. A scratch app installs both tarballs. --offline: nothing is looked up on the
    //    registry (these names are not published); the optional dependency is satisfied
    //    by the platform tarball installed alongside. A private cache keeps ~/.npm clean.
    const app = path.join(tmp, 'app');
    fs.mkdirSync(app);
    npm(app, ['init', '-y']);
    const deps = packDependencies(rootPkg, tarballs);
    npm(app, ['install', '--no-audit', '--no-fund', '--offline', '--cache', path.join(tmp, 'npm-cache'), ...deps, rootTgz.file, platformTgz.file]);
    const installedRoot = path.join(app, 'node_modules', rootPkg.name);
    const installedPlatform = path.join(app, 'node_modules', platformPkg.name);
    assert.deepEqual(listFiles(installedRoot).filter((f) => f.endsWith('.node')), [], 'node_modules/hyper-sse must not hold a .node file');
    assert.ok(fs.existsSync(path.join(installedPlatform, binaryName)), `node_modules/${platformPkg.name} lacks ${binaryName}`);
    const installedManifest = JSON.parse(fs.readFileSync(path.join(installedRoot, 'package.json'), 'utf8'));
    assert.equal(installedManifest.optionalDependencies[platformPkg.name], rootPkg.version);

    // 4. An app that require()s the installed package serves one SSE response.
    fs.writeFileSync(path.join(app, 'server.js'), APP);
    const child = spawn(process.execPath, ['server.js'], {
      cwd: app,
      env: { ...cleanEnv, NAPI_RS_ENFORCE_VERSION_CHECK: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    child.stdin.on('error', () => {});
    t.after(() => {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
    });

    const info = JSON.parse(await firstLine(child, 30000));
    assert.equal(info.entry, path.join(installedRoot, 'index.js'), 'require("hyper-sse") must resolve to the installed package');
    assert.deepEqual(info.addons, [path.join(installedPlatform, binaryName)], 'the addon must load from the platform package');

    const res = await get(info.port, '/events');
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'], /^text\/event-stream/);
    assert.equal(res.body, 'id: id1\nevent: greet\ndata: hello\ndata: world\n\n');

    // The app closes its server and must then exit on its own.
    child.stdin.end();
    let timer;
    const hung = new Promise((resolve) => (timer = setTimeout(() => resolve('hung'), 15000)));
    const outcome = await Promise.race([exited, hung]);
    clearTimeout(timer);
    if (outcome === 'hung') {
      process.kill(child.pid, 'SIGKILL');
      assert.fail(`the app did not exit within 15 s of closing its server; stderr:\n${stderr}`);
    }
    assert.deepEqual(outcome, { code: 0, signal: null }, `app stderr:\n${stderr}`);
  },
);
