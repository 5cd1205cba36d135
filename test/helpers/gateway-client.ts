/**
 * A real WebSocket client of the gateway's /v1/stream (the `ws` package), recording every
 * message it receives, for tests.
 */
import WebSocket, { type ClientOptions } from 'ws';
import { unpack } from 'msgpackr';
import { eventually } from './eventually.js';

export interface StreamMsg {
  type: string;
  id?: unknown;
  channel?: string;
  channels?: string[];
  seq?: number;
  stale?: boolean;
  simulated?: boolean;
  conflated?: boolean;
  skipped?: number;
  code?: string;
  reason?: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  data?: any;
  [k: string]: unknown;
}

export class StreamClient {
  readonly messages: StreamMsg[] = [];
  binaryFrames = 0;
  closeInfo: { code: number; reason: string } | null = null;
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) this.binaryFrames++;
      this.messages.push((isBinary ? unpack(data) : JSON.parse(data.toString('utf8'))) as StreamMsg);
    });
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        resolve(this.closeInfo);
      });
    });
    ws.on('error', () => undefined);
  }

  /** Connect; rejects with `{ status }` when the gateway refuses the upgrade. */
  static open(url: string, options: ClientOptions = {}): Promise<StreamClient> {
    const ws = new WebSocket(url, { perMessageDeflate: false, ...options });
    const c = new StreamClient(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(c));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode, body })));
      });
      ws.once('error', (err) => reject(err));
    });
  }

  send(msg: unknown): void {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  /** The first message (from `from` on) matching `pred`, waiting for it. */
  async waitFor(pred: (m: StreamMsg) => boolean, timeoutMs = 10_000, what = 'message', from = 0): Promise<StreamMsg> {
    return eventually(() => this.messages.slice(from).find(pred), timeoutMs, what);
  }

  channel(name: string): StreamMsg[] {
    return this.messages.filter((m) => m.channel === name && (m.type === 'snapshot' || m.type === 'update'));
  }

  close(): void {
    this.ws.close();
  }
}

/** Problems with a channel's messages: must start with a snapshot at seq 1, then contiguous updates. */
export function sequenceProblems(msgs: readonly StreamMsg[], opts: { allowConflated?: boolean } = {}): string[] {
  const problems: string[] = [];
  msgs.forEach((m, i) => {
    if (i === 0 && (m.type !== 'snapshot' || m.seq !== 1)) problems.push(`first message is ${m.type} seq ${m.seq}, not snapshot seq 1`);
    if (i > 0 && m.type !== 'update') problems.push(`message ${i} is a ${m.type}`);
    if (i > 0 && m.seq !== msgs[i - 1]!.seq! + 1) problems.push(`seq ${msgs[i - 1]!.seq} then ${m.seq}`);
    if (opts.allowConflated !== true && (m.conflated === true || (m.skipped ?? 0) > 0)) problems.push(`message ${i} (seq ${m.seq}) is conflated`);
  });
  return problems;
}

/** A raw HTTP/1.1 request over a TCP socket (paths are sent exactly as written). */
export async function rawGet(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  const { connect } = await import('node:net');
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => {
      const h = Object.entries({ host: `127.0.0.1:${port}`, connection: 'close', ...headers }).map(([k, v]) => `${k}: ${v}\r\n`).join('');
      s.write(`GET ${path} HTTP/1.1\r\n${h}\r\n`);
    });
    let data = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => (data += d));
    // The response is complete once the body has arrived; the server may keep the socket open.
    s.setTimeout(1500, () => s.destroy());
    s.on('close', () => resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(data)?.[1] ?? 0), text: data }));
    s.on('error', reject);
  });
}
