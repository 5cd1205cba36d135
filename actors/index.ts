export { crc32 } from './crc32.js';
export { DecimalParts, parseDecimal, toScaled, formatScaled, formatSplit, POW10 } from './decimal.js';
export { LevelBatch, Side } from './levels.js';
export { OrderBook, BookSide, ApplyResult, CHECKSUM_LEVELS } from './book.js';
export { InstrumentActor, type InstrumentCounters } from './instrument.js';
export { BookHealth, TradeSide, MARKET_RISK_KEYS, emptyMarketRisk, type MarketRisk } from './risk.js';
