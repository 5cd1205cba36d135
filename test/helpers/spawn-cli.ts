import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../..', import.meta.url));
const ENTRY = 'import("./engine/cli.ts").then((m) => m.main(process.argv.slice(1))).then((code) => { process.exitCode = code; })';

/** Start the CLI from source in a child process with a clean environment plus `env`. */
export function spawnCli(args: readonly string[], env: Record<string, string> = {}): ChildProcessWithoutNullStreams & { out: string; err: string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', ENTRY, '--', ...args], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
  }) as ChildProcessWithoutNullStreams & { out: string; err: string; exited: Promise<number | null> };
  child.out = '';
  child.err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (child.out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (child.err += d));
  child.exited = new Promise((resolve) => child.on('close', (code) => resolve(code)));
  return child;
}

/** Run the CLI to completion. */
export async function runCli(args: readonly string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const c = spawnCli(args, env);
  const code = await c.exited;
  return { code, stdout: c.out, stderr: c.err };
}

/** Structured (pino JSON) log lines from a child's stderr. */
export function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        return {};
      }
    });
}
