/**
 * Operator commands over NATS: `check`, `halt`, `release`, `positions`. Each prints the
 * engine's reply as JSON on stdout and exits 0 (1 when the engine refused or did not answer).
 */
import { connect } from '@nats-io/transport-node';
import { accountPositions, checkOrder, haltAccount, releaseAccount } from '../../adapters/nats/client.js';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';

export type OperatorCommand =
  | { kind: 'check'; account: string; symbol: string; side: 'buy' | 'sell'; qty: string; price: string | null }
  | { kind: 'halt'; account: string; reason: string }
  | { kind: 'release'; account: string }
  | { kind: 'positions'; account: string };

export async function runOperator(config: Config, log: Logger, cmd: OperatorCommand): Promise<number> {
  if (config.natsUrl === null) {
    log.error({}, 'NATS_URL is not set: operator commands talk to the engine over NATS');
    return 2;
  }
  if ((cmd.kind === 'halt' || cmd.kind === 'release') && config.adminToken === null) {
    log.error({}, 'AETHER_ADMIN_TOKEN is not set: halt and release must be authenticated');
    return 2;
  }
  const nc = await connect({ servers: config.natsUrl.split(','), name: `aether-risk ${cmd.kind}`, timeout: 5000 });
  const opts = { namespace: config.natsNamespace, timeoutMs: 5000 };
  try {
    let reply: unknown;
    let ok = true;
    switch (cmd.kind) {
      case 'check': {
        const d = await checkOrder(nc, { account: cmd.account, symbol: cmd.symbol, side: cmd.side, qty: cmd.qty, ...(cmd.price === null ? {} : { price: cmd.price }) }, opts);
        reply = d;
        break;
      }
      case 'halt': {
        const r = await haltAccount(nc, cmd.account, cmd.reason, config.adminToken!, opts);
        reply = r;
        ok = r.ok;
        break;
      }
      case 'release': {
        const r = await releaseAccount(nc, cmd.account, config.adminToken!, opts);
        reply = r;
        ok = r.ok;
        break;
      }
      case 'positions':
        reply = await accountPositions(nc, cmd.account, opts);
        break;
    }
    process.stdout.write(`${JSON.stringify(reply, null, 2)}\n`);
    return ok ? 0 : 1;
  } catch (err) {
    log.error({ err: (err as Error).message }, `no answer from the engine over NATS (${config.natsUrl}): is it running with the same AETHER_NATS_NAMESPACE?`);
    return 1;
  } finally {
    await nc.close();
  }
}
