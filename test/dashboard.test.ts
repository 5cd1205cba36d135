/**
 * The dashboard in a real browser: Debian's Chromium (headless, driven by playwright-core)
 * loads the page the engine's gateway serves, over real sockets, with the engine running on
 * the simulated exchange and the risk host on real NATS. Nothing is mocked: rows must update
 * live, a halted instrument must be marked, the account's trading state must follow a halt,
 * the page must show a dropped network (cut by a TCP relay between browser and gateway) and
 * reconnect by itself, report the gateway going away, and keep its console clean.
 *
 * A screenshot of the live page is written to test/output/dashboard.png (gitignored).
 */
import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { defaultSimPairs, startSimExchange } from '../adapters/kraken-sim/index.js';
import { loadConfig } from '../engine/config.js';
import { startEngine } from '../engine/runtime.js';
import { adminSubject, fillsSubject, streamName } from '../engine/switchboard.js';
import { eventually } from './helpers/eventually.js';
import { memoryLogger } from './helpers/logger.js';

// Functions given to page.evaluate/waitForFunction run in the browser. The project compiles
// without the DOM library (it is Node code), so the little of the DOM they touch is declared here.
interface DomNode {
  readonly textContent: string | null;
  readonly dataset: Record<string, string | undefined>;
  readonly classList: { contains(name: string): boolean };
  getAttribute(name: string): string | null;
}
interface DomCanvas {
  readonly width: number;
  readonly height: number;
  getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } | null;
}
declare const document: { querySelector(selector: string): DomNode | null; querySelectorAll(selector: string): Iterable<DomNode> & ArrayLike<DomNode> };
declare function getComputedStyle(node: unknown): { backgroundColor: string };

const CHROMIUM = '/usr/bin/chromium';
/** The flags Chromium needs here: root (no sandbox), no GPU, and no calls to Google's hosts on a closed network. */
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const OUTPUT_DIR = resolve(dirname(fileURLToPath(import.meta.url)), 'output');
const SCREENSHOT = join(OUTPUT_DIR, 'dashboard.png');

/** A loopback TCP relay to the gateway that can drop every connection and refuse new ones. */
class Relay {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  port = 0;

  constructor(private readonly target: number) {}

  /** Listen (again, on the same port once it has one). */
  async open(): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect(this.target, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  /** Drop every relayed connection (no close frame: the network is gone) and stop listening. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    if (server !== null) await new Promise<void>((r) => server.close(() => r()));
  }
}

if (!existsSync(CHROMIUM)) {
  t.fail(`${CHROMIUM} is missing: the dashboard test drives Debian's Chromium. Install it with \`apt-get install -y chromium\` (.ci/run does this in CI).`);
} else {
  await run();
}

async function run(): Promise<void> {
  const ns = `t_dash_${process.pid}`;
  const TOKEN = 'dashboard-test-token-0123456789';
  const ADMIN = 'dashboard-admin-token-0123456789';
  const pairs = defaultSimPairs(4); // BTC/USD, ETH/USD, SOL/USD, …
  const symbols = pairs.map((p) => p.symbol);
  const victim = 'SOL/USD';
  const sim = await startSimExchange({ pairs, bookRatePerSymbol: 20, seed: 17 });
  const overrides = {
    natsUrl: 'nats://127.0.0.1:4222',
    natsNamespace: ns,
    workers: 1,
    bookDepth: 25,
    logLevel: 'error',
    logSummaryMs: 0,
    adminToken: ADMIN,
    volIntervalMs: 250,
    port: 0,
    gatewayHost: '127.0.0.1',
    gatewayTokens: TOKEN,
  };
  const config = loadConfig({ env: {}, overrides });
  const engine = await startEngine(config, memoryLogger('fatal'), { krakenUrl: sim.url, symbols, simulated: true });
  const nc: NatsConnection = await connect({ servers: 'nats://127.0.0.1:4222' });
  const userDataDir = mkdtempSync(join(tmpdir(), 'aether-chromium-'));
  mkdirSync(OUTPUT_DIR, { recursive: true });
  let context: BrowserContext | null = null;
  let relay: Relay | null = null;

  t.teardown(async () => {
    await context?.close().catch(() => undefined);
    await relay?.cut();
    rmSync(userDataDir, { recursive: true, force: true });
    await engine.stop();
    const jsm = await jetstreamManager(nc);
    for (const s of ['FILLS', 'DEADLETTER', 'EVENTS'] as const) await jsm.streams.delete(streamName(ns, s)).catch(() => undefined);
    await nc.close();
    await sim.close();
  });

  if (engine.gateway === null) {
    t.fail('the engine started without its gateway (engine.gateway is null): nothing serves the dashboard');
    return;
  }
  // The browser reaches the gateway through a TCP relay the test can cut, to drop the network
  // under a connected page without stopping the engine.
  relay = new Relay(engine.gateway.port);
  await relay.open();
  const base = `http://127.0.0.1:${relay.port}`;
  const host = await engine.riskHost;

  // Every console error and uncaught page exception, with what the page was doing.
  const consoleErrors: string[] = [];
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1600, height: 1000 },
  });
  const page: Page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(`console.error: ${m.text()}`);
  });
  page.on('pageerror', (err) => consoleErrors.push(`pageerror: ${err.message}`));

  const row = (symbol: string) => page.locator(`#instr-body tr[data-symbol="${symbol}"]`);
  const text = async (selector: string) => ((await page.locator(selector).textContent()) ?? '').trim();

  t.test('dashboard - serves the page and connects with the token from the page address', async (t) => {
    t.ok(host !== null, 'risk host running on NATS');
    const res = await page.goto(`${base}/?access_token=${TOKEN}`);
    t.equal(res?.status(), 200, 'GET / answers 200');
    await page.waitForFunction(() => document.querySelector('#conn')?.getAttribute('data-state') === 'open', null, { timeout: 15_000 });
    t.equal(await text('#conn'), 'CONNECTED');
    t.ok(await page.locator('#sim-banner').isVisible(), 'simulated data: the banner is shown');
    t.match(await text('#sim-banner'), /SIMULATED MARKET DATA/);
    t.notOk(await page.locator('#conn-banner').isVisible(), 'no disconnected banner while connected');
  });

  t.test('dashboard - a row per instrument, LIVE, with values that change as risk updates', async (t) => {
    await page.waitForFunction((n) => document.querySelectorAll('#instr-body tr[data-symbol]').length === n, symbols.length, { timeout: 20_000 });
    t.same(await page.locator('#instr-body tr[data-symbol]').evaluateAll((trs) => trs.map((tr) => (tr as unknown as DomNode).dataset.symbol)), [...symbols].sort(), 'one row per instrument, in symbol order');
    await page.waitForFunction(
      (syms) => syms.every((s) => document.querySelector(`#instr-body tr[data-symbol="${s}"]`)?.getAttribute('data-stale') === 'false'),
      symbols,
      { timeout: 20_000 },
    );
    for (const s of symbols) {
      t.equal(await row(s).getAttribute('data-health'), 'LIVE', `${s}: LIVE`);
      t.match(((await row(s).locator('td.health').textContent()) ?? '').trim(), /^(LIVE|QUIET)$/, `${s}: badge says LIVE`);
      t.match(((await row(s).locator('td.mid').textContent()) ?? '').trim(), /^[0-9][0-9,]*(\.[0-9]+)?$/, `${s}: a mid price is shown`);
      t.match(((await row(s).locator('td.spread').textContent()) ?? '').trim(), /^[0-9]+\.[0-9]{2}$/, `${s}: spread in bps`);
    }
    // A value changes in place: the page follows the stream, not a one-off snapshot.
    const before = await page.locator('#instr-body tr[data-symbol] td.mid').allTextContents();
    await page.waitForFunction(
      (prev) => [...document.querySelectorAll('#instr-body tr[data-symbol] td.mid')].some((td, i) => td.textContent !== prev[i]),
      before,
      { timeout: 15_000 },
    );
    t.pass('a mid price changed live');
    t.equal(await page.locator('table#instruments thead th[scope="col"]').count(), 9, 'semantic table with column headers');
  });

  t.test('dashboard - a click selects an instrument and charts its mid and spread', async (t) => {
    await row('ETH/USD').click();
    t.equal(await row('ETH/USD').getAttribute('aria-current'), 'true', 'the clicked row is the current one');
    t.equal(await row('BTC/USD').getAttribute('aria-current'), 'false', 'the others are not');
    await page.waitForFunction(() => document.querySelector('#chart-symbol')?.textContent?.includes('ETH/USD'), null, { timeout: 5_000 });
    // The canvas has been drawn on: some pixels carry the mid line's colour.
    const painted = await page.waitForFunction(
      () => {
        const c = document.querySelector('#chart') as unknown as DomCanvas;
        const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
        let blue = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i + 2]! > 200 && d[i]! < 120 && d[i + 3]! > 0) blue++;
        return blue > 20 ? blue : false;
      },
      null,
      { timeout: 10_000 },
    );
    t.ok(Number(await painted.jsonValue()) > 20, 'the mid line is drawn');
  });

  t.test('dashboard - an instrument the venue halts is marked stale and dimmed; it recovers', async (t) => {
    sim.setPairStatus(victim, 'maintenance');
    await page.waitForFunction((s) => document.querySelector(`#instr-body tr[data-symbol="${s}"]`)?.getAttribute('data-stale') === 'true', victim, { timeout: 15_000 });
    await page.waitForFunction((s) => document.querySelector(`#instr-body tr[data-symbol="${s}"]`)?.getAttribute('data-health') === 'HALTED', victim, { timeout: 15_000 });
    t.equal(((await row(victim).locator('td.health').textContent()) ?? '').trim(), 'HALTED', 'the badge says HALTED');
    t.ok(await row(victim).evaluate((tr) => (tr as unknown as DomNode).classList.contains('stale')), 'the row carries the stale class (dimmed)');
    t.equal(((await row(victim).locator('td.mid').textContent()) ?? '').trim(), '–', 'no price is shown for a halted book');
    t.match(await row(victim).getAttribute('title'), /HALTED — not live/, 'the row says why it is not live');
    for (const s of symbols.filter((x) => x !== victim)) t.equal(await row(s).getAttribute('data-stale'), 'false', `${s}: unaffected`);
    await page.screenshot({ path: join(OUTPUT_DIR, 'dashboard-halted-instrument.png') });
    sim.setPairStatus(victim, 'online');
    await page.waitForFunction((s) => document.querySelector(`#instr-body tr[data-symbol="${s}"]`)?.getAttribute('data-stale') === 'false', victim, { timeout: 20_000 });
    t.equal(await row(victim).getAttribute('data-health'), 'LIVE', 'LIVE again once the venue is back');
    t.equal(await row(victim).getAttribute('title'), '', 'no not-live note once LIVE');
  });

  t.test('dashboard - the account panel follows fills and shows a halt unmistakably', async (t) => {
    const js = jetstream(nc);
    await js.publish(fillsSubject(ns, 'desk1'), JSON.stringify({ fill_id: 'DASH-1', account: 'desk1', symbol: 'BTC/USD', side: 'buy', price: '60000', qty: '0.25', fee: '1' }), { msgID: 'dash-1' });
    await js.publish(fillsSubject(ns, 'desk1'), JSON.stringify({ fill_id: 'DASH-2', account: 'desk1', symbol: 'ETH/USD', side: 'sell', price: '3000', qty: '2', fee: '1' }), { msgID: 'dash-2' });
    await page.waitForFunction(() => document.querySelectorAll('#pos-body tr[data-symbol]').length === 2, null, { timeout: 15_000 });
    t.equal(await page.locator('#state-badge').getAttribute('data-state'), 'ACTIVE');
    t.equal(await text('#state-badge'), 'ACTIVE');
    t.equal(await page.locator('#state-badge').getAttribute('aria-live'), 'assertive', 'the state badge is announced');
    const bg = await page.locator('#state-badge').evaluate((e) => getComputedStyle(e).backgroundColor);
    t.equal(bg, 'rgb(46, 160, 67)', 'ACTIVE is green');
    t.equal(await text('#pos-body tr[data-symbol="BTC/USD"] td:nth-of-type(1)'), '0.25', 'BTC/USD position quantity');
    t.equal(await text('#pos-body tr[data-symbol="ETH/USD"] td:nth-of-type(1)'), '-2', 'ETH/USD short position');
    t.notSame(await text('#f-gross'), '–', 'gross exposure shown');

    const r = JSON.parse((await nc.request(adminSubject(ns, 'halt'), JSON.stringify({ account: 'desk1', token: ADMIN, reason: 'dashboard test' }), { timeout: 5000 })).string()) as { ok: boolean };
    t.equal(r.ok, true, 'halt accepted');
    await page.waitForFunction(() => document.querySelector('#state-badge')?.getAttribute('data-state') === 'HALTED', null, { timeout: 10_000 });
    t.equal(await text('#state-badge'), 'HALTED');
    t.equal(await page.locator('#state-badge').evaluate((e) => getComputedStyle(e).backgroundColor), 'rgb(218, 54, 51)', 'HALTED is red');
    t.match(await text('#state-reason'), /dashboard test/, 'the reason is shown');
    await page.waitForFunction(() => document.querySelector('#events li[data-to="HALTED"]') !== null, null, { timeout: 10_000 });
    t.match(await text('#events li[data-to="HALTED"]'), /desk1.*ACTIVE → HALTED.*manual/s, 'the transition is listed in recent events');

    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    t.ok(existsSync(SCREENSHOT), `screenshot saved: ${SCREENSHOT}`);
  });

  t.test('dashboard - no console errors while connected', async (t) => {
    t.same(consoleErrors, [], 'no console error and no page exception');
  });

  t.test('dashboard - a dropped network is shown at once, and the page reconnects by itself', async (t) => {
    const before = consoleErrors.length;
    await relay!.cut();
    await page.waitForFunction(() => document.querySelector('#conn')?.getAttribute('data-state') !== 'open', null, { timeout: 10_000 });
    await page.waitForFunction(() => document.querySelector('#conn-banner')?.textContent?.includes('DISCONNECTED'), null, { timeout: 5_000 });
    t.ok(await page.locator('#conn-banner').isVisible(), 'the disconnected banner is shown');
    await page.waitForFunction(() => [...document.querySelectorAll('#instr-body tr[data-symbol]')].every((tr) => tr.getAttribute('data-stale') === 'true'), null, { timeout: 5_000 });
    t.pass('every row is marked not live while disconnected');
    await new Promise((r) => setTimeout(r, 3000)); // a few refused attempts: the backoff grows
    await relay!.open();
    await page.waitForFunction(() => document.querySelector('#conn')?.getAttribute('data-state') === 'open', null, { timeout: 20_000 });
    t.notOk(await page.locator('#conn-banner').isVisible(), 'the banner is gone once reconnected');
    await page.waitForFunction(
      (syms) => syms.every((s) => document.querySelector(`#instr-body tr[data-symbol="${s}"]`)?.getAttribute('data-stale') === 'false'),
      symbols,
      { timeout: 20_000 },
    );
    t.pass('every row is live again, without a page reload');
    t.equal(await page.locator('#instr-body tr[data-symbol]').count(), symbols.length, 'no duplicate rows after the reconnection');
    t.equal(await page.locator('#events li[data-to="HALTED"]').count(), 1, 'the events snapshot after reconnecting does not repeat an event');
    // The account is marked live with the next account update whose positions' books are all LIVE.
    await page.waitForFunction(() => document.querySelector('#state-badge')?.getAttribute('data-stale') === 'false', null, { timeout: 10_000 });
    t.pass('the account state is live again');
    const unexpected = consoleErrors.slice(before).filter((e) => !/WebSocket connection to .* failed|Failed to load resource/.test(e));
    t.same(unexpected, [], 'nothing but the browser\'s own messages about refused connections');
  });

  t.test('dashboard - the gateway going away is shown at once; every row is marked not live', async (t) => {
    // Browsers log every failed reconnection attempt to the console themselves; from here on
    // only page exceptions and errors other than those are counted.
    const before = consoleErrors.length;
    await engine.stop();
    await page.waitForFunction(() => document.querySelector('#conn')?.getAttribute('data-state') !== 'open', null, { timeout: 10_000 });
    t.ok(await page.locator('#conn-banner').isVisible(), 'the disconnected banner is shown');
    t.match(await text('#conn-banner'), /DISCONNECTED.*the gateway is shutting down/, 'with the reason: the close code 1001');
    await page.waitForFunction(() => [...document.querySelectorAll('#instr-body tr[data-symbol]')].every((tr) => tr.getAttribute('data-stale') === 'true'), null, { timeout: 5_000 });
    for (const s of symbols) t.equal(((await row(s).locator('td.health').textContent()) ?? '').trim(), 'DISCONNECTED', `${s}: marked DISCONNECTED`);
    t.equal(await page.locator('#state-badge').getAttribute('data-stale'), 'true', 'the account state is marked not live');
    await page.screenshot({ path: join(OUTPUT_DIR, 'dashboard-disconnected.png') });
    const unexpected = consoleErrors.slice(before).filter((e) => !/WebSocket connection to .* failed|Failed to load resource/.test(e));
    t.same(unexpected, [], 'nothing but the browser\'s own reconnection messages');
  });
}
