/**
 * The CLI commands as a user runs them: demo (simulated risk in the log, clean Ctrl-C),
 * replay (Kraken's documented examples and a real captured stream), record → replay.
 */
import t from 'tap';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from './helpers/eventually.js';
import { jsonLines, runCli, spawnCli } from './helpers/spawn-cli.js';

const docs = 'test/fixtures/kraken/docs-examples.ndjson';
const btc = 'test/fixtures/kraken/btcusd-d10-python-kraken-sdk.ndjson';

t.test('replay --strict verifies every checksum of Kraken\'s documented examples', async (t) => {
  const r = await runCli(['replay', '--file', docs, '--precision', 'MATIC/USD=4,8', '--strict', '--json']);
  t.equal(r.code, 0, 'exit 0');
  const summary = JSON.parse(r.stdout) as { symbols: Record<string, { bookMessages: number; checksumsVerified: number; checksumMismatches: number; resyncs: number }> };
  t.same(Object.keys(summary), ['symbols'], 'stdout carries only the summary object');
  t.same(summary.symbols['BTC/USD'], { bookMessages: 1, checksumsVerified: 1, checksumMismatches: 0, resyncs: 0 }, 'the checksum guide snapshot (3310070434) verifies');
  t.same(summary.symbols['MATIC/USD'], { bookMessages: 2, checksumsVerified: 2, checksumMismatches: 0, resyncs: 0 }, 'the book page snapshot and update (2439117997, 2114181697) verify');
});

t.test('replay --strict exits 1 when a checksum does not verify (MATIC/USD rendered with a wrong price precision)', async (t) => {
  const r = await runCli(['replay', '--file', docs, '--precision', 'MATIC/USD=5,8', '--strict', '--json']);
  t.equal(r.code, 1, 'exit 1 on mismatch');
  const s = JSON.parse(r.stdout) as { symbols: Record<string, { checksumMismatches: number }> };
  t.ok(s.symbols['MATIC/USD']!.checksumMismatches > 0, 'mismatch reported for MATIC/USD');
});

t.test('replay reproduces all 510 checksums of a real BTC/USD capture with its precision given', async (t) => {
  const r = await runCli(['replay', '--file', btc, '--depth', '10', '--precision', 'BTC/USD=1,8', '--strict', '--json']);
  t.equal(r.code, 0);
  t.same(JSON.parse(r.stdout), { symbols: { 'BTC/USD': { bookMessages: 510, checksumsVerified: 510, checksumMismatches: 0, resyncs: 0 } } });
  const human = await runCli(['replay', '--file', btc, '--depth', '10', '--precision', 'BTC/USD=1,8']);
  t.equal(human.code, 0);
  t.match(human.stdout, /BTC\/USD\s+510\s+510\s+0\s+0/, 'human-readable summary row');
});

t.test('replay of a missing file is a clear error', async (t) => {
  const r = await runCli(['replay', '--file', 'test/fixtures/kraken/no-such-file.ndjson']);
  t.not(r.code, 0);
  t.match(r.stderr, /no-such-file/);
});

t.test('record --simulation then replay --strict: every recorded checksum verifies', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aether-rec-'));
  const out = join(dir, 'rec.ndjson');
  const rec = await runCli(['record', '--out', out, '--simulation', '--duration', '2', '--depth', '10'], { AETHER_SIM_SYMBOLS: '3', AETHER_SIM_RATE: '50', AETHER_LOG_LEVEL: 'warn' });
  t.equal(rec.code, 0, 'record exits 0');
  const lines = readFileSync(out, 'utf8').trim().split('\n');
  t.ok(lines.length > 100, `recorded ${lines.length} frames`);
  const first = JSON.parse(lines[0]!) as { t: number; f: string };
  t.ok(first.t > 1.7e15 && first.f.startsWith('{"channel":"status"'), 'each line holds the receive time (µs) and the verbatim frame; the first is the status frame');
  const r = await runCli(['replay', '--file', out, '--strict', '--json']);
  t.equal(r.code, 0, 'replay --strict passes');
  const s = JSON.parse(r.stdout) as { symbols: Record<string, { bookMessages: number; checksumsVerified: number; checksumMismatches: number }> };
  t.equal(Object.keys(s.symbols).length, 3, 'three symbols');
  for (const [sym, v] of Object.entries(s.symbols)) {
    t.ok(v.bookMessages > 10 && v.checksumsVerified === v.bookMessages && v.checksumMismatches === 0, `${sym}: ${v.checksumsVerified}/${v.bookMessages} verified`);
  }
});

t.test('demo shows live simulated risk in the log, then stops cleanly on SIGINT', async (t) => {
  const child = spawnCli(['demo'], { AETHER_LOG_SUMMARY_MS: '1000', AETHER_SIM_SYMBOLS: '3', PORT: '0' });
  const started = Date.now();
  const line = await eventually(
    () => jsonLines(child.err).find((l) => l.simulated === true && Array.isArray(l.risk) && (l.risk as { health: string }[]).some((r) => r.health === 'LIVE')),
    20_000,
    'a simulated risk summary',
  );
  t.comment(`first simulated risk line after ${Date.now() - started} ms (including TypeScript loading)`);
  const risk = (line.risk as { symbol: string; health: string; mid: number | null }[]).filter((r) => r.health === 'LIVE');
  t.ok(risk.length > 0 && risk.every((r) => typeof r.mid === 'number' && r.mid > 0), 'LIVE instruments with a mid price');
  t.match(String(line.msg), /SIMULATED/, 'marked as simulated in the message');
  const stopAt = Date.now();
  child.kill('SIGINT');
  const code = await child.exited;
  t.equal(code, 0, 'exit 0 after SIGINT');
  t.ok(Date.now() - stopAt < 10_000, `stopped in ${Date.now() - stopAt} ms`);
  t.ok(jsonLines(child.err).some((l) => l.msg === 'engine stopped'), 'engine stopped');
});

t.test('start with all-usd stops cleanly on SIGINT while Kraken cannot be reached for the instrument list', async (t) => {
  const { freePort } = await import('./helpers/net.js');
  const port = await freePort();
  const child = spawnCli(['start'], { AETHER_SYMBOLS: 'all-usd', AETHER_KRAKEN_URL: `ws://127.0.0.1:${port}/v2`, AETHER_LOG_LEVEL: 'info' });
  await eventually(() => jsonLines(child.err).some((l) => l.code === 'E_KRAKEN_UNREACHABLE'), 20_000, 'discovery failing');
  child.kill('SIGINT');
  const code = await child.exited;
  t.equal(code, 0, 'exit 0');
  t.ok(jsonLines(child.err).some((l) => String(l.msg).includes('stopped while reading the instrument list')));
});
