/**
 * A typed client for trading systems and operators: subscribe to market risk, run pre-trade
 * checks, operate the kill switch, read positions. No hand-written decoding needed.
 *
 *   import { connect } from '@nats-io/transport-node';
 *   import { subscribeRisk, checkOrder } from 'aether-risk';
 *   const nc = await connect({ servers: 'nats://127.0.0.1:4222' });
 *   const sub = subscribeRisk(nc, (r) => console.log(r.symbol, r.mid), { symbols: ['BTC/USD'] });
 *   const d = await checkOrder(nc, { account: 'desk-1', symbol: 'BTC/USD', side: 'buy', qty: '0.1' });
 */
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { CheckFigures, DenyReason, TradingState } from '../../actors/account.js';
import type { MarketRisk } from '../../actors/risk.js';
import { adminSubject, preTradeSubject, releaseOrderSubject, riskSubject, riskWildcard } from '../../engine/switchboard.js';
import { createRiskDecoder } from './codec.js';

export interface ClientOptions {
  /** AETHER_NATS_NAMESPACE of the engine ('' by default). */
  namespace?: string;
  timeoutMs?: number;
}

export interface OrderRequest {
  account: string;
  symbol: string;
  side: 'buy' | 'sell';
  /** Decimal text (exact), e.g. "0.25". */
  qty: string;
  /** Limit price; omit for a market order. */
  price?: string;
  order_id?: string;
}

export interface CheckReply {
  accept: boolean;
  orderId?: string;
  state?: TradingState;
  reasons: { code: DenyReason; detail: string; field?: string }[];
  figures?: CheckFigures;
}

/** Subscribe to market risk (all instruments, or `symbols`); returns the subscription(s). */
export function subscribeRisk(nc: NatsConnection, onRisk: (r: MarketRisk) => void, opts: ClientOptions & { symbols?: string[] } = {}): Subscription[] {
  const ns = opts.namespace ?? '';
  const decoder = createRiskDecoder();
  const subjects = opts.symbols === undefined ? [riskWildcard(ns)] : opts.symbols.map((s) => riskSubject(ns, s));
  return subjects.map((subject) =>
    nc.subscribe(subject, {
      callback: (err, m) => {
        if (err === null) onRisk(decoder.decode(m.data));
      },
    }),
  );
}

async function request<T>(nc: NatsConnection, subject: string, body: unknown, timeoutMs: number): Promise<T> {
  const m = await nc.request(subject, JSON.stringify(body), { timeout: timeoutMs });
  return JSON.parse(m.string()) as T;
}

export function checkOrder(nc: NatsConnection, order: OrderRequest, opts: ClientOptions = {}): Promise<CheckReply> {
  return request(nc, preTradeSubject(opts.namespace ?? ''), order, opts.timeoutMs ?? 2000);
}

/** Release an accepted order's reservation (cancelled or not sent after all). */
export function releaseOrder(nc: NatsConnection, account: string, orderId: string, opts: ClientOptions = {}): Promise<{ ok: boolean; error?: string }> {
  return request(nc, releaseOrderSubject(opts.namespace ?? ''), { account, order_id: orderId }, opts.timeoutMs ?? 2000);
}

export interface AdminReply {
  ok: boolean;
  error?: string;
  account?: string;
  state?: TradingState;
  reason?: string;
}

export function haltAccount(nc: NatsConnection, account: string, reason: string, token: string, opts: ClientOptions = {}): Promise<AdminReply> {
  return request(nc, adminSubject(opts.namespace ?? '', 'halt'), { account, reason, token }, opts.timeoutMs ?? 2000);
}

export function releaseAccount(nc: NatsConnection, account: string, token: string, opts: ClientOptions = {}): Promise<AdminReply> {
  return request(nc, adminSubject(opts.namespace ?? '', 'release'), { account, token }, opts.timeoutMs ?? 2000);
}

export function accountPositions(nc: NatsConnection, account: string, opts: ClientOptions = {}): Promise<Record<string, unknown>> {
  return request(nc, adminSubject(opts.namespace ?? '', 'positions'), { account }, opts.timeoutMs ?? 2000);
}
