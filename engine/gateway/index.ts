/**
 * The HTTP/WebSocket gateway — the only public entry of this folder (docs/streaming.md).
 *
 *   const auth = resolveAuth(config);                       // throws ConfigError (before any port opens)
 *   const gw = startGateway({ config, log, source: embeddedSource({...}), health, auth });
 *   gw.port; await gw.stop();
 */
export { startGateway, uwsNative, STREAM_PATH, type Gateway, type GatewayOptions } from './server.js';
export { resolveAuth, type GatewayAuth } from './auth.js';
export { embeddedSource, natsSource, type GatewaySource, type NatsSource, type BookView, type InstrumentInfo } from './source.js';
export type { ClientInfo } from './hub.js';
export {
  ChannelKind,
  CloseCode,
  ErrorCode as StreamErrorCode,
  HttpRefusal,
  RefusalReason,
  PROTOCOL_VERSION,
  riskChannel,
  bookChannel,
  tradesChannel,
  portfolioChannel,
  EVENTS_CHANNEL,
  INSTRUMENTS_CHANNEL,
} from './protocol.js';
export { dashboardDir } from './rest.js';
