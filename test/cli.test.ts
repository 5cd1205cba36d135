import t from 'tap';
import { spawn } from 'node:child_process';
import { accessSync, constants, copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configKeys } from '../engine/config.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const NO_SOCKETS = './test/helpers/no-sockets.mjs';
const MARKER = 'NO-SOCKETS-VIOLATION';
const ENTRY = 'import("./engine/cli.ts").then((m) => m.main(process.argv.slice(1)))';

interface Result {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function run(cmd: string, args: readonly string[], env: Record<string, string>): Promise<Result> {
  return new Promise((resolve, reject) => {
    // A clean environment: nothing from the test runner (NODE_OPTIONS loaders, AETHER_*).
    const child = spawn(cmd, [...args], { cwd: root, env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs the CLI from source with the no-sockets preload. */
function cli(args: readonly string[], env: Record<string, string> = {}): Promise<Result> {
  return run(process.execPath, ['--import', 'tsx', '--import', NO_SOCKETS, '-e', ENTRY, '--', ...args], env);
}

t.test('cli - the no-sockets preload does report a listening socket (control)', async (t) => {
  const r = await run(
    process.execPath,
    ['--import', NO_SOCKETS, '-e', 'require("node:net").createServer().listen(0, "127.0.0.1", function () { this.close() })'],
    {},
  );
  t.equal(r.code, 0);
  t.match(r.stderr, `${MARKER}: net.Server#listen`);
});

t.test('cli - --help lists the four commands and exits 0', async (t) => {
  for (const flag of ['--help', '-h', 'help']) {
    const r = await cli([flag]);
    t.equal(r.code, 0, `${flag} exits 0`);
    for (const c of ['start', 'demo', 'record', 'replay']) t.match(r.stdout, new RegExp(`^  ${c} `, 'm'), `${flag} lists ${c}`);
    t.match(r.stdout, 'docs/configuration.md');
  }
});

t.test('cli - replay --help explains its flags, including --strict', async (t) => {
  const r = await cli(['replay', '--help']);
  t.equal(r.code, 0);
  for (const flag of ['--file FILE', '--depth N', '--precision SYMBOL=PRICE_DP,QTY_DP', '--strict', '--json']) {
    t.match(r.stdout, flag);
  }
  t.match(r.stdout, 'docs/configuration.md');
  const same = await cli(['help', 'replay']);
  t.equal(same.stdout, r.stdout, '"help replay" prints the same text');
});

t.test('cli - every command has its own help', async (t) => {
  const expected: Record<string, string[]> = {
    start: ['--config FILE', '--symbols LIST', '--depth N', '--workers N', '--simulation'],
    demo: ['--config FILE', '--symbols-count N', '--rate N', '--port N'],
    record: ['--out FILE', '--symbols LIST', '--depth N', '--duration SECONDS', '--simulation'],
  };
  for (const [cmd, flags] of Object.entries(expected)) {
    const r = await cli([cmd, '-h']);
    t.equal(r.code, 0, `${cmd} -h exits 0`);
    for (const f of flags) t.match(r.stdout, f, `${cmd} help mentions ${f}`);
  }
});

t.test('cli - help config lists every setting', async (t) => {
  const r = await cli(['help', 'config']);
  t.equal(r.code, 0);
  for (const k of configKeys) t.match(r.stdout, k.env, `lists ${k.env}`);
});

t.test('cli - a bad AETHER_BOOK_DEPTH exits 2 naming it, before any socket', async (t) => {
  const r = await cli(['start'], { AETHER_BOOK_DEPTH: '27' });
  t.equal(r.code, 2);
  t.match(r.stderr, 'AETHER_BOOK_DEPTH: must be one of 10, 25, 100, 500, 1000 (got "27")');
  t.notMatch(r.stderr, MARKER);
  t.equal(r.stdout, '');
});

t.test('cli - every problem is listed in one run', async (t) => {
  const r = await cli(['start', '--workers', '0', '--depth', '7'], { AETHER_SIMULATON: '1', AETHER_BOOK_DEPTH: '27' });
  t.equal(r.code, 2);
  for (const key of ['AETHER_SIMULATON', 'AETHER_BOOK_DEPTH', '--workers', '--depth']) t.match(r.stderr, `  - ${key}: `);
  t.match(r.stderr, '4 problems');
  t.notMatch(r.stderr, MARKER);
});

t.test('cli - demo in production is refused with the simulation message and opens no socket', async (t) => {
  const r = await cli(['demo'], { AETHER_ENV: 'production' });
  t.equal(r.code, 2);
  t.match(r.stderr, 'simulation mode cannot be enabled when AETHER_ENV=production');
  t.match(r.stderr, 'E_SIM_IN_PRODUCTION');
  t.notMatch(r.stderr, MARKER);
});

t.test('cli - start with AETHER_SIMULATION=Yes or --simulation in production is refused', async (t) => {
  const cases: [string[], Record<string, string>][] = [
    [['start'], { AETHER_ENV: 'production', AETHER_SIMULATION: 'Yes' }],
    [['start', '--simulation'], { AETHER_ENV: 'production' }],
    [['record', '--out', join(tmpdir(), 'never-written.ndjson'), '--simulation'], { AETHER_ENV: 'production' }],
  ];
  for (const [args, env] of cases) {
    const r = await cli(args, env);
    const what = `${args.join(' ')} with ${JSON.stringify(env)}`;
    t.equal(r.code, 2, `${what} exits 2`);
    t.match(r.stderr, 'simulation mode cannot be enabled when AETHER_ENV=production', what);
    t.notMatch(r.stderr, MARKER, `${what} opens no socket`);
  }
});

t.test('cli - bad flags exit 2 with a clear message', async (t) => {
  const cases: [string[], string | RegExp][] = [
    [['start', '--bogus'], "Unknown option '--bogus'"],
    [['start', 'extra'], /Unexpected argument 'extra'|positional/i],
    [['replay', '--file'], /--file.*argument missing/],
    [['replay', '--file', 'x.ndjson', '--precision', 'BTC/USD=1'], '--precision: must be SYMBOL=PRICE_DP,QTY_DP'],
    [['replay', '--file', 'x.ndjson', '--precision', 'BTC/USD=1,8', '--precision', 'BTC/USD=2,8'], 'BTC/USD is given more than once'],
    [['replay'], '--file FILE is required'],
    [['record'], '--out FILE is required'],
    [['record', '--out', 'x', '--duration', '0'], '--duration: must be a number of seconds greater than 0'],
    [['record', '--out', 'x', '--duration=-1'], '--duration: must be a number of seconds greater than 0'],
    [['frobnicate'], 'unknown command "frobnicate"'],
    [['--frob'], 'unknown option "--frob"'],
    [['help', 'nothing'], 'no help for "nothing"'],
  ];
  for (const [args, message] of cases) {
    const r = await cli(args);
    t.equal(r.code, 2, `${args.join(' ')} exits 2`);
    t.match(r.stderr, message, `${args.join(' ')} explains why`);
    t.notMatch(r.stderr, MARKER);
  }
});

t.test('cli - no arguments prints the help on stderr and exits 2', async (t) => {
  const r = await cli([]);
  t.equal(r.code, 2);
  t.match(r.stderr, 'Commands:');
});

t.test('cli - replay --json keeps stdout free of log lines', async (t) => {
  // The replay module decides the exit code for a missing file; whatever it is, the
  // configuration was accepted (not 2) and every log line went to stderr.
  const r = await cli(['replay', '--json', '--file', join(tmpdir(), 'aether-no-such-recording.ndjson')]);
  t.not(r.code, 2);
  t.notMatch(r.stdout, /"level":/);
  t.notMatch(r.stdout, /"msg":/);
});

t.test('cli - bin/aether-risk.js is executable and asks for a build when dist is missing', async (t) => {
  const bin = join(root, 'bin', 'aether-risk.js');
  t.match(readFileSync(bin, 'utf8'), /^#!\/usr\/bin\/env node\n/);
  t.doesNotThrow(() => accessSync(bin, constants.X_OK), 'bin is executable');
  const scratch = mkdtempSync(join(tmpdir(), 'aether-bin-'));
  mkdirSync(join(scratch, 'bin'));
  copyFileSync(bin, join(scratch, 'bin', 'aether-risk.js'));
  writeFileSync(join(scratch, 'package.json'), '{ "type": "module" }\n');
  const r = await run(process.execPath, [join(scratch, 'bin', 'aether-risk.js'), '--help'], {});
  t.equal(r.code, 1);
  t.match(r.stderr, 'run `npm run build` first');
});
