import t from 'tap';
import { readFileSync } from 'node:fs';
import { AetherError, ConfigError, ErrorCode, errorCatalogue } from '../engine/errors.js';

const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
const codes = Object.keys(errorCatalogue).sort();

t.test('errors - docs/errors.md has a section for every catalogue code', async (t) => {
  const sections = [...doc.matchAll(/^## `(E_[A-Z0-9_]+)`\s*$/gm)].map((m) => m[1]);
  for (const code of codes) t.ok(sections.includes(code), `docs/errors.md documents ${code}`);
  t.same([...sections].sort(), codes, 'and no section for a code that does not exist');
});

t.test('errors - docs/errors.md mentions no stale code anywhere', async (t) => {
  const mentioned = new Set([...doc.matchAll(/\bE_[A-Z0-9_]+\b/g)].map((m) => m[0]));
  for (const code of mentioned) t.ok(codes.includes(code), `${code} mentioned in docs/errors.md is in the catalogue`);
});

t.test('errors - each documented section gives the meaning and the operator action', async (t) => {
  const parts = doc.split(/^## /m).filter((p) => p.startsWith('`E_'));
  t.equal(parts.length, codes.length);
  for (const part of parts) {
    const code = /^`(E_[A-Z0-9_]+)`/.exec(part)?.[1];
    t.match(part, /\*\*Meaning:\*\*/, `${code} has a meaning`);
    t.match(part, /\*\*Operator action:\*\*/, `${code} has an operator action`);
  }
});

t.test('errors - the catalogue is consistent: code values equal their names, one line each', async (t) => {
  t.same(Object.keys(ErrorCode).sort(), codes);
  for (const [name, value] of Object.entries(ErrorCode)) t.equal(value, name);
  for (const [code, text] of Object.entries(errorCatalogue)) {
    t.ok(text.length > 0 && !text.includes('\n'), `${code} has a one-line description`);
  }
});

t.test('errors - AetherError and ConfigError carry stable codes', async (t) => {
  const e = new AetherError(ErrorCode.E_REPLAY_INPUT, 'no such file', { cause: new Error('ENOENT') });
  t.type(e, Error);
  t.equal(e.code, 'E_REPLAY_INPUT');
  t.equal(e.name, 'AetherError');
  t.type(e.cause, Error);
  const c = new ConfigError([{ key: 'AETHER_BOOK_DEPTH', message: 'must be one of 10', code: 'E_CONFIG' }]);
  t.type(c, AetherError);
  t.equal(c.code, 'E_CONFIG');
  t.equal(c.name, 'ConfigError');
  t.match(c.message, 'AETHER_BOOK_DEPTH: must be one of 10');
  t.ok(Object.isFrozen(c.violations));
});
