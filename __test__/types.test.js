'use strict';
// index.d.ts compiles a typical handler under `strict`, and rejects misuse.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('path');
const { execFileSync } = require('child_process');

for (const fixture of ['typed-app.ts', 'typed-express-app.ts']) test(`${fixture}: a typical SSE app type-checks against index.d.ts`, () => {
  const tsc = require.resolve('typescript/bin/tsc');
  const file = path.join(__dirname, 'fixtures', fixture);
  let output = '';
  try {
    output = execFileSync(process.execPath, [tsc, '--noEmit', '--strict', '--module', 'commonjs', '--target', 'es2020', '--types', 'node', '--esModuleInterop', file], { encoding: 'utf8' });
  } catch (e) {
    assert.fail(`tsc failed:\n${e.stdout}${e.stderr}`);
  }
  assert.equal(output.trim(), '');
});
