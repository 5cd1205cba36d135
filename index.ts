/**
 * Public API for consumers of Aether's outputs: the risk record type, its decoder, and the
 * subject names. Import from the package root: `import { createRiskDecoder } from 'aether-risk'`.
 */
export { BookHealth, TradeSide, MARKET_RISK_KEYS, type MarketRisk } from './actors/risk.js';
export { createRiskDecoder, riskStructures } from './adapters/nats/codec.js';
export { riskSubject, riskWildcard, symbolToken, tokenToSymbol } from './engine/switchboard.js';
export { subscribeRisk, checkOrder, releaseOrder, haltAccount, releaseAccount, accountPositions, type OrderRequest, type CheckReply, type AdminReply, type ClientOptions } from './adapters/nats/client.js';
export { DenyReason, TradingState, type CheckFigures, type StateEvent } from './actors/account.js';
export type { AccountRisk, PositionRisk } from './engine/risk-host.js';
