import { describe, expect, it } from 'vitest';
import { type CrashReport, runCrashScenario } from './support/crash-harness.js';

// kill -9 the server at random moments under a load of buys, payments and bans; what the
// clients were answered must be what the database, the SMS file and the statement say.

const TEST_URL = process.env.TEST_DATABASE_URL;
const ENGINES = TEST_URL ? (['sqlite', 'postgres'] as const) : (['sqlite'] as const);
const SEED = Number(process.env.CRASH_SEED ?? Date.now() % 1_000_000);

describe.each(ENGINES)('crash safety on %s', (engine) => {
  it('keeps every answered payment, card, ledger, SMS and statement consistent across 5 kill -9', async () => {
    const report: CrashReport = await runCrashScenario({
      engine,
      pgUrl: TEST_URL,
      crashes: 5,
      liveMs: [700, 1_600],
      concurrency: 10,
      seed: SEED,
      // Messages a killed process had leased come due after the lease and must go out then. A
      // 5 s lease (renewed every third of it while a send runs) keeps that wait short; drainMs
      // only ends a drain that would never finish.
      smsLeaseMs: 5_000,
      drainMs: 120_000,
      waitOutLeases: true,
    });
    const summary = {
      ...report,
      refusals: report.refusals.slice(0, 10),
      violations: report.violations.slice(0, 20),
    };
    console.info(`crash ${engine} seed ${SEED}: ${JSON.stringify(summary)}`);
    expect(report.violations, `seed ${SEED}`).toEqual([]);
    expect(report.crashes).toBe(5);
    expect(report.killExits.every((e) => e === 'SIGKILL')).toBe(true);
    expect(report.paidAnswered).toBeGreaterThan(0);
    expect(report.requests.refused).toBe(0);
    expect(report.sms.strandedByLease).toBe(0);
    // Five kills, restarts and a lease wait: a busy machine must slow this, never fail it
    // (214 s was seen at load 20).
  }, 600_000);
});
