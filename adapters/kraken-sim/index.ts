/**
 * Simulated Kraken WebSocket v2 exchange — the only public entry of this folder.
 *
 * A real WebSocket server speaking the v2 market-data protocol as described in
 * kraken-v2.md (status, acks and errors, ping/pong, heartbeat, instrument,
 * book with per-depth windows, replenishment and CRC32 checksums, trade,
 * ticker), with injectable faults. Used by tests, benchmarks and `demo` mode.
 */
export { startSimExchange } from './server.js';
export { defaultSimPairs, SimConfigError } from './config.js';
export type { PairStatus, SimExchange, SimFault, SimOptions, SimPair, SimStats } from './types.js';
