/**
 * The Kubernetes manifests (deploy/k8s) agree with the code: every setting they pass is one
 * the engine knows and accepts, the commands exist, the probes point at what the gateway
 * serves, and every workload runs as non-root with a read-only root filesystem.
 */
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { configKeys, loadConfig } from '../engine/config.js';

const dir = new URL('../deploy/k8s/', import.meta.url);
const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
const text = (f: string) => readFileSync(new URL(f, dir), 'utf8');
const knownEnv = new Set(configKeys.map((k) => k.env));

t.test('deploy - the ConfigMap holds only known settings, and the engine accepts them with the secrets it expects', async (t) => {
  const cm = text('configmap.yaml');
  const data = cm.slice(cm.indexOf('\ndata:') + 6);
  const entries = [...data.matchAll(/^ {2}([A-Z][A-Z0-9_]*): *(.*)$/gm)].map((m) => [m[1]!, m[2]!.replace(/^"(.*)"$/, '$1')] as const);
  t.ok(entries.length >= 5, `${entries.length} settings`);
  for (const [k] of entries) t.ok(knownEnv.has(k), `${k} is a setting (docs/configuration.md)`);
  const env = Object.fromEntries(entries);
  // With the secret values the manifests reference (placeholders of the right shape).
  const c = loadConfig({ env: { ...env, NATS_URL: 'nats://nats:4222', DATABASE_URL: 'postgres://aether@db:5432/aether', REDIS_URL: 'redis://redis:6379', AETHER_ADMIN_TOKEN: 'x'.repeat(32) } });
  t.equal(c.env, 'production');
  t.equal(c.writerInProcess, false, 'writers run as their own Deployment');
});

t.test('deploy - every env var a workload sets is a known setting; secrets come from a Secret', async (t) => {
  for (const f of ['engine.yaml', 'writer.yaml']) {
    const y = text(f);
    const names = [...y.matchAll(/- name: ([A-Z][A-Z0-9_]*)\s*\n\s*valueFrom: \{ secretKeyRef: \{ name: aether-secrets/g)].map((m) => m[1]!);
    t.ok(names.length > 0, `${f}: secrets from the aether-secrets Secret`);
    for (const n of names) t.ok(knownEnv.has(n), `${f}: ${n} is a setting`);
    t.notMatch(y, /value: .*(nats|postgres|redis):\/\//, `${f}: no connection string written in the manifest`);
  }
});

t.test('deploy - commands exist, probes hit the gateway routes, workloads are locked down', async (t) => {
  const cli = readFileSync(new URL('../engine/cli.ts', import.meta.url), 'utf8');
  const rest = readFileSync(new URL('../engine/gateway/rest.ts', import.meta.url), 'utf8');
  const engine = text('engine.yaml');
  for (const f of ['engine.yaml', 'writer.yaml']) {
    const y = text(f);
    const args = /args: \["([a-z-]+)"\]/.exec(y)?.[1];
    t.ok(args !== undefined && cli.includes(`case '${args}'`), `${f}: \`aether-risk ${args}\` is a command`);
    t.match(y, /runAsNonRoot: true/, `${f}: non-root`);
    t.match(y, /readOnlyRootFilesystem: true/, `${f}: read-only root filesystem`);
    t.match(y, /allowPrivilegeEscalation: false/);
    t.match(y, /drop: \["ALL"\]/);
  }
  for (const path of ['/healthz', '/readyz']) {
    t.match(engine, new RegExp(`path: ${path}`), `engine probes ${path}`);
    t.ok(rest.includes(`'${path}'`), `the gateway serves ${path}`);
  }
  t.match(engine, /prometheus.io\/path: \/metrics/);
  t.ok(rest.includes(`'/metrics'`), 'the gateway serves /metrics');
  t.match(engine, /containerPort: 8080/);
  t.equal(configKeys.find((k) => k.key === 'port')?.default, '8080', 'the container port is the default PORT');
  const kustom = text('kustomization.yaml');
  for (const f of files.filter((x) => x !== 'kustomization.yaml')) t.match(kustom, new RegExp(`- ${f.replace('.', '\\.')}`), `kustomization lists ${f}`);
});
