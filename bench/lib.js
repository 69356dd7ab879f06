'use strict';
// Shared bench plumbing: options, server processes, /proc readings. Loopback only.
const { spawn } = require('child_process');
const fs = require('fs');
const path = require('path');

/** `--name value` options with defaults. */
function options(defaults) {
  const args = process.argv.slice(2);
  const out = {};
  for (const [name, dflt] of Object.entries(defaults)) {
    const i = args.indexOf(`--${name}`);
    out[name] = i === -1 ? dflt : typeof dflt === 'number' ? Number(args[i + 1]) : args[i + 1];
  }
  return out;
}

/**
 * Starts a bench server (bench/servers/<file>) in a fresh process; resolves { child, port }
 * on "ready <port>". `wrap` runs it under another program (valgrind), given its arguments.
 */
function startServer(file, env = {}, { wrap = [], timeoutMs = 10000 } = {}) {
  return new Promise((resolve, reject) => {
    const script = path.join(__dirname, 'servers', file);
    const [cmd, ...args] = wrap.length ? [...wrap, process.execPath, script] : [process.execPath, script];
    const child = spawn(cmd, args, {
      stdio: ['ignore', 'pipe', wrap.length ? 'ignore' : 'inherit'],
      env: { ...process.env, PORT: '0', ...env },
    });
    const timer = setTimeout(() => reject(new Error(`${file} did not start`)), timeoutMs);
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /ready (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]) });
      }
    });
    child.on('exit', (code) => reject(new Error(`${file} exited with ${code}`)));
  });
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
async function stopServer(child, graceMs = 3000) {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** utime + stime of a process, in clock ticks. */
function cpuTicks(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

function openFds(pid) {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
};

const LOAD_BIN = path.join(__dirname, 'sse-load', 'target', 'release', 'sse-load');

/** Runs bench/sse-load with `args` (plus --json); resolves its JSON report. */
function sseLoad(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(LOAD_BIN, [...args.map(String), '--json'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop())) : reject(new Error(`sse-load exited with ${code}`))));
  });
}

module.exports = { options, startServer, stopServer, cpuTicks, rssKiB, openFds, median, sseLoad, LOAD_BIN };
