/**
 * `aether-risk stream-backup` and `stream-restore`: a JetStream stream to and from a file of
 * JSON lines. The first line is the stream's configuration; each further line is one message
 * (original sequence and time, subject, headers, payload in base64), in stream order.
 *
 * A restore publishes the messages again in order, with their headers: a message id
 * (Nats-Msg-Id) is kept, so a restore that is interrupted and run again does not duplicate
 * what it already published within the stream's duplicate window. Sequence numbers of a
 * restored stream start again at 1 (see docs/persistence.md for what that means for the
 * warm-restart checkpoint).
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { DeliverPolicy, jetstream, jetstreamManager, type StreamConfig } from '@nats-io/jetstream';
import { connect, headers as natsHeaders } from '@nats-io/transport-node';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';

interface MessageLine {
  seq: number;
  time: string;
  subject: string;
  headers: Record<string, string[]> | null;
  data: string;
}

async function natsOrFail(config: Config, log: Logger) {
  if (config.natsUrl === null) {
    log.error({ code: 'E_CONFIG', key: 'NATS_URL' }, 'NATS_URL is not set');
    return null;
  }
  return connect({ servers: config.natsUrl.split(','), name: 'aether-stream-tool', timeout: 5000 });
}

export async function runStreamBackup(config: Config, log: Logger, stream: string, out: string): Promise<number> {
  const nc = await natsOrFail(config, log);
  if (nc === null) return 2;
  try {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(stream);
    const file = createWriteStream(out);
    const write = async (line: unknown) => {
      if (!file.write(`${JSON.stringify(line)}\n`)) await once(file, 'drain');
    };
    await write({ stream: info.config, state: { messages: info.state.messages, first_seq: info.state.first_seq, last_seq: info.state.last_seq } });
    let n = 0;
    const last = info.state.last_seq;
    if (info.state.messages > 0) {
      const consumer = await jetstream(nc).consumers.get(stream, { deliver_policy: DeliverPolicy.All });
      for (;;) {
        const m = await consumer.next({ expires: 5000 });
        if (m === null) break;
        const hdrs: Record<string, string[]> = {};
        if (m.headers !== undefined) for (const [k, v] of m.headers) hdrs[k] = v;
        await write({ seq: m.seq, time: m.time.toISOString(), subject: m.subject, headers: m.headers === undefined ? null : hdrs, data: Buffer.from(m.data).toString('base64') } satisfies MessageLine);
        n++;
        if (m.seq >= last) break;
      }
    }
    file.end();
    await once(file, 'finish');
    log.info({ stream, messages: n, out }, `backed up ${n} message(s) of ${stream} to ${out}`);
    return 0;
  } catch (err) {
    log.error({ code: 'E_NATS', err: (err as Error).message, stream }, 'stream backup failed');
    return 1;
  } finally {
    await nc.close();
  }
}

export async function runStreamRestore(config: Config, log: Logger, input: string): Promise<number> {
  const nc = await natsOrFail(config, log);
  if (nc === null) return 2;
  try {
    const lines = createInterface({ input: createReadStream(input), crlfDelay: Infinity });
    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc);
    let stream = '';
    let n = 0;
    for await (const line of lines) {
      if (line === '') continue;
      const v = JSON.parse(line) as { stream?: StreamConfig } & Partial<MessageLine>;
      if (v.stream !== undefined) {
        stream = v.stream.name;
        try {
          await jsm.streams.info(stream);
          log.info({ stream }, 'stream exists: restoring its messages into it');
        } catch {
          const { name, subjects, retention, max_consumers, max_msgs, max_bytes, max_age, max_msg_size, storage, discard, num_replicas, duplicate_window } = v.stream;
          await jsm.streams.add({ name, subjects, retention, max_consumers, max_msgs, max_bytes, max_age, max_msg_size, storage, discard, num_replicas, duplicate_window });
          log.info({ stream }, 'stream created from the saved configuration');
        }
        continue;
      }
      if (stream === '' || typeof v.subject !== 'string' || typeof v.data !== 'string') throw new Error(`${input}: not a stream backup (line ${n + 2})`);
      const h = natsHeaders();
      let msgID: string | undefined;
      for (const [k, vals] of Object.entries(v.headers ?? {})) {
        if (k === 'Nats-Msg-Id') msgID = vals[0];
        else for (const x of vals) h.append(k, x);
      }
      await js.publish(v.subject, Buffer.from(v.data, 'base64'), { msgID, headers: h });
      n++;
    }
    log.info({ stream, messages: n }, `restored ${n} message(s) into ${stream}`);
    return 0;
  } catch (err) {
    log.error({ code: 'E_NATS', err: (err as Error).message }, 'stream restore failed');
    return 1;
  } finally {
    await nc.close();
  }
}
