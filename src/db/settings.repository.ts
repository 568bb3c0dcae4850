import type { Executor } from './executor.js';

// Settings an admin changes at run time live in the `meta` key/value table under this prefix;
// every process reads them from there, so a change needs no restart.
const PREFIX = 'setting:';

/** The stored values of the settings, by name; a setting never changed is absent. */
export async function readSettings(db: Executor): Promise<Map<string, string>> {
  const rows = await db
    .selectFrom('meta')
    .select(['key', 'value'])
    .where('key', 'like', `${PREFIX}%`)
    .execute();
  return new Map(rows.map((r) => [r.key.slice(PREFIX.length), r.value]));
}

export async function writeSetting(db: Executor, name: string, value: string): Promise<void> {
  await db
    .insertInto('meta')
    .values({ key: PREFIX + name, value })
    .onConflict((oc) => oc.column('key').doUpdateSet({ value }))
    .execute();
}
