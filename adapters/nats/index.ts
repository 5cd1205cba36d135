export { NatsPublisher, type PublisherCounters } from './publisher.js';
export { createRiskEncoder, createRiskDecoder, riskStructures, type RiskEncoder } from './codec.js';
