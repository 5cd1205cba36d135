/**
 * OpenTelemetry tracing helpers (API only). Without a registered SDK every span is the API's
 * non-recording span, so these calls cost a few hundred nanoseconds and allocate almost
 * nothing; the engine never requires an SDK. An operator who wants traces registers one
 * (e.g. `node --import ./otel-setup.js dist/...`) before the engine starts; the tracer below is
 * the API's proxy, so spans go to a provider registered later too. Providers are per thread:
 * spans from worker threads (resyncs, reconnects) need the SDK set up in each worker as well.
 *
 * Spans wrap rare, meaningful operations only — never a per-frame path:
 *   aether.book.resync        checksum mismatch → book LIVE again (adapters/kraken/session.ts)
 *   aether.kraken.reconnect   connection lost → connection open again (adapters/kraken/client.ts)
 *   aether.pretrade.check     one pre-trade check request (engine/risk-host.ts)
 *   aether.snapshot.flush     one snapshot flush to a store (persistence writers)
 *
 * This module must stay free of engine state (metrics, config): worker threads import it.
 */
import { SpanStatusCode, trace, type Attributes, type Span } from '@opentelemetry/api';

export const SpanName = {
  RESYNC: 'aether.book.resync',
  RECONNECT: 'aether.kraken.reconnect',
  PRE_TRADE_CHECK: 'aether.pretrade.check',
  SNAPSHOT_FLUSH: 'aether.snapshot.flush',
} as const;
export type SpanName = (typeof SpanName)[keyof typeof SpanName];

export const tracer = trace.getTracer('aether-risk');

export type { Span, Attributes };

/** Start a span that ends later (e.g. when a resync completes); call `endSpan` on it. */
export function startSpan(name: SpanName, attributes?: Attributes): Span {
  return attributes === undefined ? tracer.startSpan(name) : tracer.startSpan(name, { attributes });
}

/** End a span, marking it as an error when `error` is given (a string is the status message). */
export function endSpan(span: Span, error?: unknown): void {
  if (error !== undefined) {
    const message = typeof error === 'string' ? error : error instanceof Error ? error.message : String(error);
    if (error instanceof Error) span.recordException(error);
    span.setStatus({ code: SpanStatusCode.ERROR, message });
  }
  span.end();
}

/** Run `fn` synchronously inside a span; an exception is recorded and rethrown. */
export function traced<T>(name: SpanName, attributes: Attributes | undefined, fn: (span: Span) => T): T {
  const span = startSpan(name, attributes);
  try {
    const v = fn(span);
    span.end();
    return v;
  } catch (err) {
    endSpan(span, err);
    throw err;
  }
}

/** Run an async `fn` inside a span (the span is active in its context). */
export function tracedAsync<T>(name: SpanName, attributes: Attributes | undefined, fn: (span: Span) => Promise<T>): Promise<T> {
  return tracer.startActiveSpan(name, attributes === undefined ? {} : { attributes }, async (span) => {
    try {
      const v = await fn(span);
      span.end();
      return v;
    } catch (err) {
      endSpan(span, err);
      throw err;
    }
  });
}
