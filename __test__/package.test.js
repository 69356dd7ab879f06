'use strict';
// The package as users get it: `scripts/publish.js` publishes the per-platform package
// (the .node binary) and the JS-only root (optionalDependencies naming the platform
// package, as `napi prepublish` does) to a throwaway registry (verdaccio, started here on
// 127.0.0.1, with the runtime dependencies published into it from node_modules: no
// network); a scratch app runs `npm install hyper-sse` by name, then a child process
// that require()s it serves one SSE response.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const http = require('node:http');
const { execFile, execFileSync, spawn } = require('node:child_process');

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
function npm(cwd, args, env = cleanEnv) {
  try {
    return execFileSync('npm', args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 180000 });
  } catch (err) {
    throw new Error(`npm ${args.join(' ')} failed in ${cwd}:\n${err.stdout || ''}\n${err.stderr || err.message}`);
  }
}

/** Runs npm without blocking (the registry is a child of this process). */
function npmAsync(cwd, args, env) {
  return new Promise((resolve, reject) => {
    execFile('npm', args, { cwd, env, encoding: 'utf8', timeout: 180000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`npm ${args.join(' ')} failed in ${cwd}:\n${stdout}\n${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}

/** Where Node would find package `name` required from `dir` (nested versions first). */
function findPackage(dir, name) {
  for (let d = dir; d.startsWith(ROOT); d = path.dirname(d)) {
    const candidate = path.join(d, 'node_modules', name);
    if (fs.existsSync(path.join(candidate, 'package.json'))) return candidate;
  }
  throw new Error(`${name} (needed by ${dir}) is not in node_modules: run npm ci`);
}

/** The directories of the root's runtime dependencies and theirs, each name@version once. */
function dependencyDirs(rootPkg) {
  const seen = new Map();
  const visit = (dir, deps) => {
    for (const name of Object.keys(deps || {})) {
      const found = findPackage(dir, name);
      const pkg = JSON.parse(fs.readFileSync(path.join(found, 'package.json'), 'utf8'));
      const key = `${pkg.name}@${pkg.version}`;
      if (seen.has(key)) continue;
      seen.set(key, found);
      visit(found, pkg.dependencies);
    }
  };
  visit(ROOT, rootPkg.dependencies);
  return [...seen.values()];
}

/** Starts verdaccio on 127.0.0.1 with storage under `dir`; resolves { url, child }. */
async function startRegistry(t, dir) {
  const port = await freePort();
  const config = path.join(dir, 'config.yaml');
  fs.writeFileSync(
    config,
    [
      `storage: ${path.join(dir, 'storage')}`,
      'auth:',
      '  htpasswd:',
      `    file: ${path.join(dir, 'htpasswd')}`,
      '    max_users: 10',
      'uplinks: {}',
      'packages:',
      "  '**':",
      '    access: $all',
      '    publish: $authenticated',
      'max_body_size: 200mb',
      'log: { type: stdout, format: json, level: warn }',
      '',
    ].join('\n'),
  );
  const child = spawn(process.execPath, [path.join(ROOT, 'node_modules', 'verdaccio', 'bin', 'verdaccio'), '--config', config, '--listen', `127.0.0.1:${port}`], {
    env: cleanEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (c) => (output += c));
  child.stderr.on('data', (c) => (output += c));
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGTERM');
  });
  const url = `http://127.0.0.1:${port}/`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`verdaccio exited:\n${output}`);
    try {
      const res = await fetch(`${url}-/ping`);
      if (res.ok) break;
    } catch {}
    if (i > 300) throw new Error(`verdaccio did not answer within 30 s:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { url, child };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = require('node:net').createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** Creates a registry user (npm adduser's request); returns its token. */
async function addUser(url) {
  const res = await fetch(`${url}-/user/org.couchdb.user:tester`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'tester', password: 'tester-password', email: 'tester@example.com' }),
  });
  const body = await res.json();
  assert.ok(body.token, `verdaccio adduser: ${res.status} ${JSON.stringify(body)}`);
  return body.token;
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
  'published packages: `npm install hyper-sse` by name from a registry, then serve SSE',
  { timeout: 300000, skip: supported ? false : `the ${PLATFORM} package only installs on linux x64 glibc` },
  async (t) => {
    const rootPkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    const platformDir = path.join(ROOT, 'npm', PLATFORM);
    const platformPkg = JSON.parse(fs.readFileSync(path.join(platformDir, 'package.json'), 'utf8'));
    const binaryName = `${rootPkg.napi.binaryName}.${PLATFORM}.node`;
    assert.ok(fs.existsSync(path.join(ROOT, binaryName)), `${binaryName} is not built; run npm run build`);
    assert.equal(platformPkg.name, `${rootPkg.name}-${PLATFORM}`);
    assert.equal(platformPkg.main, binaryName);

    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hyper-sse-pkg-'));
    t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
    const { url } = await startRegistry(t, tmp);
    const token = await addUser(url);
    const npmrc = path.join(tmp, '.npmrc');
    const host = url.replace(/^http:/, '');
    fs.writeFileSync(npmrc, `registry=${url}\n${host}:_authToken=${token}\n`);
    // A private cache and config: nothing touches ~/.npm or the user's registry.
    const env = { ...cleanEnv, NPM_CONFIG_USERCONFIG: npmrc, NPM_CONFIG_CACHE: path.join(tmp, 'npm-cache'), NPM_CONFIG_REGISTRY: url };

    // 1. The runtime dependencies, from node_modules (the registry has no uplink).
    const dirs = dependencyDirs(rootPkg);
    const tarballs = path.join(tmp, 'tarballs');
    fs.mkdirSync(tarballs);
    for (let i = 0; i < dirs.length; i += 6) {
      await Promise.all(
        dirs.slice(i, i + 6).map(async (dir) => {
          const [info] = JSON.parse(await npmAsync(dir, ['pack', '--json', '--ignore-scripts', '--pack-destination', tarballs], env));
          await npmAsync(tmp, ['publish', '--ignore-scripts', '--tag', 'dep', path.join(tarballs, info.filename)], env);
        }),
      );
    }

    // 2. hyper-sse itself, with the publish script users of this repo run.
    await new Promise((resolve, reject) => {
      execFile(process.execPath, [path.join(ROOT, 'scripts', 'publish.js'), '--registry', url], { cwd: ROOT, env, encoding: 'utf8', timeout: 180000 }, (err, stdout, stderr) =>
        err ? reject(new Error(`publish.js failed:\n${stdout}\n${stderr}`)) : resolve(),
      );
    });

    // 3. A scratch app with nothing else installs it by name.
    const app = path.join(tmp, 'app');
    fs.mkdirSync(app);
    npm(app, ['init', '-y'], env);
    await npmAsync(app, ['install', '--no-audit', '--no-fund', 'hyper-sse'], env);
    const installedRoot = path.join(app, 'node_modules', rootPkg.name);
    const installedPlatform = path.join(app, 'node_modules', platformPkg.name);
    assert.deepEqual(listFiles(installedRoot).filter((f) => f.endsWith('.node')), [], 'node_modules/hyper-sse must not hold a .node file');
    assert.ok(fs.existsSync(path.join(installedPlatform, binaryName)), `node_modules/${platformPkg.name} lacks ${binaryName}`);
    const installedManifest = JSON.parse(fs.readFileSync(path.join(installedRoot, 'package.json'), 'utf8'));
    assert.equal(installedManifest.optionalDependencies[platformPkg.name], rootPkg.version);
    assert.equal(installedManifest.devDependencies, undefined);
    for (const f of ['index.js', 'index.d.ts', 'binding.js', 'lib/native.js']) assert.ok(fs.existsSync(path.join(installedRoot, f)), `the installed package lacks ${f}`);

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
