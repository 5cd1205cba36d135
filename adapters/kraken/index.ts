export { KrakenClient, type ClientOptions, type ClientCounters } from './client.js';
export { KrakenSession, createReplaySession, KRAKEN_DEPTHS, KRAKEN_DEFAULT_DEPTH, type SessionOptions, type SessionCounters } from './session.js';
export { BookScanner, parseLossless, fillBatchFromObject, parseTimestampUs, parseTimestampText } from './parser.js';
export { discoverPairs, usdOnlineSymbols, type PairInfo } from './discover.js';
