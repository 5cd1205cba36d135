/**
 * The alert rules (deploy/prometheus/alerts.yaml) use only metrics the engine exposes, and
 * every alert has its runbook in docs/operations.md.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { registry } from '../engine/metrics.js';
import '../engine/persist/metrics.js';

const rules = readFileSync(new URL('../deploy/prometheus/alerts.yaml', import.meta.url), 'utf8');
const ops = readFileSync(new URL('../docs/operations.md', import.meta.url), 'utf8');

t.test('operations - every metric in the alert rules is exposed by the engine', async (t) => {
  const exposed = new Set((await registry.getMetricsAsJSON()).map((m) => m.name));
  const used = new Set([...rules.matchAll(/\b(aether_[a-z0-9_]+)/g)].map((m) => m[1]!.replace(/_(bucket|sum|count)$/, '')));
  t.ok(used.size >= 10, `${used.size} metrics used`);
  for (const name of used) t.ok(exposed.has(name), `${name} is on /metrics`);
});

t.test('operations - every alert has a runbook section that its annotation points to', async (t) => {
  const alerts = [...rules.matchAll(/- alert: (\w+)/g)].map((m) => m[1]!);
  t.ok(alerts.length >= 10);
  for (const a of alerts) {
    t.match(ops, new RegExp(`^### ${a}$`, 'm'), `docs/operations.md has a runbook for ${a}`);
    t.match(rules, new RegExp(`runbook: docs/operations.md#${a.toLowerCase()}`), `${a} links to it`);
  }
});
