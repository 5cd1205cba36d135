import { readFileSync } from 'node:fs';

const FIXTURES = new URL('../fixtures/kraken/', import.meta.url);

/** Non-empty lines of a fixture file in test/fixtures/kraken/. */
export function fixtureLines(name: string): string[] {
  return readFileSync(new URL(name, FIXTURES), 'utf8')
    .split('\n')
    .filter((l) => l.length > 0);
}
