/**
 * One-shot read of Kraken's instrument list (used to expand `all-usd` before instruments are
 * assigned to workers). Costs one connection attempt from the shared budget.
 */
import WebSocket from 'ws';
import type { ConnectBudget } from '../../engine/connect-budget.js';
import { parseLossless } from './parser.js';

export interface PairInfo {
  symbol: string;
  base: string;
  quote: string;
  status: string;
  pricePrecision: number;
  qtyPrecision: number;
}

export async function discoverPairs(url: string, budget: ConnectBudget, timeoutMs = 15_000): Promise<PairInfo[]> {
  const wait = budget.tryAcquire();
  if (wait > 0) throw new Error(`connection-attempt budget exhausted; retry in ${wait} ms`);
  return new Promise<PairInfo[]>((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: timeoutMs });
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`no instrument snapshot from ${url} within ${timeoutMs} ms`));
    }, timeoutMs);
    const done = (err: Error | null, pairs?: PairInfo[]) => {
      clearTimeout(timer);
      ws.close();
      if (err !== null) reject(err);
      else resolve(pairs!);
    };
    ws.on('open', () => ws.send(JSON.stringify({ method: 'subscribe', params: { channel: 'instrument', snapshot: true }, req_id: 1 })));
    ws.on('message', (data: Buffer) => {
      let m: Record<string, unknown>;
      try {
        m = parseLossless(data.toString('utf8')) as Record<string, unknown>;
      } catch {
        return;
      }
      if (m.method === 'subscribe' && m.success === false) return done(new Error(`Kraken refused the instrument subscription: ${String(m.error)}`));
      if (m.channel !== 'instrument' || m.type !== 'snapshot') return;
      const pairs = ((m.data as { pairs?: Record<string, unknown>[] }).pairs ?? []).map((p) => ({
        symbol: String(p.symbol),
        base: String(p.base),
        quote: String(p.quote),
        status: String(p.status),
        pricePrecision: Number(p.price_precision),
        qtyPrecision: Number(p.qty_precision),
      }));
      done(null, pairs);
    });
    ws.on('error', (err) => done(err));
  });
}

/** The `all-usd` selection: USD-quoted pairs that Kraken reports online. */
export function usdOnlineSymbols(pairs: readonly PairInfo[]): string[] {
  return pairs.filter((p) => p.quote === 'USD' && p.status === 'online').map((p) => p.symbol);
}
