import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { AppError } from '../src/errors.js';
import { engines } from './support/engines.js';

// Whatever input slips past the validators, text the database cannot store is the caller's
// mistake (400), not a fault of the platform (500).
const postgres = engines().filter((e) => e.name === 'postgres');

describe.runIf(postgres.length > 0)('database errors on postgres', () => {
  const engine = postgres[0]!;
  afterAll(() => engine.cleanup());

  it('turns a NUL in a text parameter into an invalid-input error', async () => {
    const db = await engine.open();
    try {
      const failure = await sql`select ${'a\u0000b'}::text as t`
        .execute(db.kysely)
        .catch((err: unknown) => err);
      expect(failure).toBeInstanceOf(AppError);
      expect(failure).toMatchObject({ code: 'invalid', id: 'text.unstorable', status: 400 });
    } finally {
      await db.close();
    }
  });
});
