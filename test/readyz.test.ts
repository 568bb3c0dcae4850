import { afterAll, describe, expect, it } from 'vitest';
import type { Db } from '../src/db/database.js';
import { engines } from './support/engines.js';
import { makeTestApp } from './support/harness.js';

/** The database with a ping that can be made to fail or to wait. */
function controllablePing(db: Db) {
  const state = { failing: false, gate: undefined as Promise<void> | undefined };
  const wrapped: Db = Object.create(db as object) as Db;
  Object.defineProperty(wrapped, 'ping', {
    value: async () => {
      if (state.gate) await state.gate;
      if (state.failing) throw new Error('connection refused');
      return db.ping();
    },
  });
  return { db: wrapped, state };
}

for (const engine of engines()) {
  describe(`/readyz (${engine.name})`, () => {
    afterAll(() => engine.cleanup());

    it('answers 200 ready once the app can serve, and 503 unavailable while the database is unreachable', async () => {
      const { db, state } = controllablePing(await engine.open());
      const t = await makeTestApp(db);
      try {
        const ok = await t.app.fastify.inject({ method: 'GET', url: '/readyz' });
        expect(ok.statusCode).toBe(200);
        expect(ok.json()).toEqual({ status: 'ready' });
        expect(ok.headers['content-type']).toMatch(/^application\/json/);

        state.failing = true;
        const down = await t.app.fastify.inject({ method: 'GET', url: '/readyz' });
        expect(down.statusCode).toBe(503);
        expect(down.json()).toEqual({ status: 'unavailable' });

        state.failing = false;
        const back = await t.app.fastify.inject({ method: 'GET', url: '/readyz' });
        expect(back.statusCode).toBe(200);
        expect(back.json()).toEqual({ status: 'ready' });
      } finally {
        await t.close();
      }
    });

    it('answers 503 shutting down once a shutdown began', async () => {
      const { db, state } = controllablePing(await engine.open());
      const t = await makeTestApp(db);
      let release!: () => void;
      state.gate = new Promise((resolve) => (release = resolve));
      // A probe in flight when the shutdown starts must not report ready.
      const probe = t.app.fastify.inject({ method: 'GET', url: '/readyz' });
      await new Promise((resolve) => setImmediate(resolve));
      const closed = t.app.close();
      release();
      const res = await probe;
      await closed;
      await db.close();
      expect(res.statusCode).toBe(503);
      expect(res.json()).toEqual({ status: 'shutting down' });
    });
  });
}
