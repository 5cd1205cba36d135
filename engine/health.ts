/**
 * Readiness registry: each component of the process (feed, workers, NATS, PostgreSQL, Redis,
 * writers …) registers a synchronous check, and `GET /readyz` reports all of them. A check
 * must be cheap (it reads state the component already keeps; it never does I/O): the probe
 * runs it on every request.
 *
 *   const off = health.register({ name: 'redis', check: () => ({ ok: client.status === 'ready', detail: { status: client.status } }) });
 *
 * Registering a name again replaces the earlier check (so a placeholder such as
 * `postgres: off` can be superseded by the real component). Liveness (`/healthz`) does not
 * use this registry: a dependency outage must not restart the process.
 */

export interface HealthState {
  readonly ok: boolean;
  /** Anything JSON-serialisable that helps an operator: state, counts, the failing part. */
  readonly detail?: unknown;
}

export interface HealthComponent {
  readonly name: string;
  /**
   * False for a dependency the process keeps serving without (PostgreSQL, Redis: records wait
   * in JetStream, state is re-asserted later): its failure is reported under `degraded` and
   * does not make the process unready. Default true.
   */
  readonly critical?: boolean;
  check(): HealthState;
}

export interface HealthReport {
  readonly ready: boolean;
  /** Names of the critical components whose check failed (or threw), in registration order. */
  readonly failing: readonly string[];
  /** Names of the non-critical components whose check failed (reported; readiness unaffected). */
  readonly degraded: readonly string[];
  readonly components: Readonly<Record<string, { readonly ok: boolean; readonly detail?: unknown }>>;
}

export class HealthRegistry {
  private readonly components = new Map<string, HealthComponent>();

  /** Add (or replace) a component; returns a function that removes it again. */
  register(component: HealthComponent): () => void {
    this.components.set(component.name, component);
    return () => {
      if (this.components.get(component.name) === component) this.components.delete(component.name);
    };
  }

  names(): string[] {
    return [...this.components.keys()];
  }

  /** Run every check. A check that throws counts as failing, with its message as detail. */
  report(): HealthReport {
    const components: Record<string, { ok: boolean; detail?: unknown }> = {};
    const failing: string[] = [];
    const degraded: string[] = [];
    for (const [name, c] of this.components) {
      let state: HealthState;
      try {
        state = c.check();
      } catch (err) {
        state = { ok: false, detail: { error: (err as Error).message } };
      }
      components[name] = state.detail === undefined ? { ok: state.ok } : { ok: state.ok, detail: state.detail };
      if (!state.ok) (c.critical === false ? degraded : failing).push(name);
    }
    return { ready: failing.length === 0, failing, degraded, components };
  }
}
