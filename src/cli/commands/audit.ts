import type { AuditEntryView } from '../../domain/admin/audit.service.js';
import { parseTimestamp } from '../../domain/time.js';
import { dateArg, intArg } from '../args.js';
import { formatTime, json, table } from '../output.js';
import { type Runner, UsageError } from '../runner.js';

/** What changed, in one line: `field: old → new`, or the record for a creation or removal. */
function describeChange(e: AuditEntryView): string {
  const short = (v: unknown) => {
    const s = typeof v === 'string' ? v : (JSON.stringify(v) ?? '');
    return s.length > 60 ? `${s.slice(0, 57)}...` : s;
  };
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
  const { before, after } = e;
  if (isObj(before) && isObj(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
    return keys
      .filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]))
      .map((k) => `${k}: ${short(before[k])} → ${short(after[k])}`)
      .join('; ');
  }
  if (e.after !== null) return `+ ${JSON.stringify(e.after)}`;
  if (e.before !== null) return `- ${JSON.stringify(e.before)}`;
  return '';
}

/** The audit log search. */
export function registerAuditCommands({ group, run }: Runner): void {
  group('audit', 'search the audit log, newest first')
    .option('--entity <type>', 'user, partner, city, region, cinema, kind or catalog')
    .option('--id <id>', 'the entity id, e.g. a partner_id')
    .option('--actor <actor>', 'e.g. cli:root or user:alice')
    .option('--action <action>', 'e.g. key.create')
    .option('--since <date>', 'from this day (YYYY-MM-DD, platform time zone)', dateArg)
    .option('--until <date>', 'up to and including this day', dateArg)
    .option('--limit <n>', 'entries per page', intArg(1, 500), 50)
    .option('--offset <n>', 'skip this many entries', intArg(0, 1_000_000_000))
    .option('--json', 'print JSON')
    .action(
      (o: {
        entity?: string;
        id?: string;
        actor?: string;
        action?: string;
        since?: string;
        until?: string;
        limit: number;
        offset?: number;
        json?: boolean;
      }) =>
        run(async (s) => {
          /** Midnight starting the day, `plusDays` later, in the platform time zone. */
          const day = (d: string, opt: string, plusDays = 0) => {
            const ms = parseTimestamp(`${d.replaceAll('-', '')}000000`, s.tz);
            if (ms === null) throw new UsageError(`${opt} ${d} is not a real date`);
            const [y, m, dd] = d.split('-').map(Number) as [number, number, number];
            const next = new Date(Date.UTC(y, m - 1, dd + plusDays)).toISOString().slice(0, 10);
            return parseTimestamp(`${next.replaceAll('-', '')}000000`, s.tz)!;
          };
          const page = await s.audit.search(s.by, {
            entityType: o.entity,
            entityId: o.id,
            actor: o.actor,
            action: o.action,
            since: o.since === undefined ? undefined : day(o.since, '--since'),
            until: o.until === undefined ? undefined : day(o.until, '--until', 1),
            limit: o.limit,
            offset: o.offset,
          });
          if (o.json) return s.ctx.out(json(page));
          const rows = page.entries.map((e) => [
            formatTime(e.at, s.tz),
            e.actor,
            e.action,
            `${e.entityType}:${e.entityId}`,
            describeChange(e),
          ]);
          for (const l of table(['TIME', 'ACTOR', 'ACTION', 'ENTITY', 'CHANGE'], rows)) s.ctx.out(l);
          if (page.nextOffset !== null) s.ctx.out(`more: --offset ${page.nextOffset}`);
        }),
    );
}
