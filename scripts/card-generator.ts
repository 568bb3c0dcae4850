// Fills a database with cards as years of trade would leave them: spread over the partners and
// the active catalog, in every state the card state machine reaches, each with the ledger,
// SMS messages and redemptions the platform would have written for it, so tables and indexes
// are as big as in real life. Used by `npm run scale` and test/scale.test.ts.
import { randomBytes, randomUUID } from 'node:crypto';
import { loadRegistryRows } from '../src/db/catalog.repository.js';
import { loadInBulk, type BulkColumns, type BulkLoader } from '../src/db/bulk-load.js';
import type { Db } from '../src/db/database.js';
import { CARD_COLUMNS, type CardRow } from '../src/db/card.repository.js';
import type { CardStatus } from '../src/db/schema.js';
import { NEW_SMS_COLUMNS } from '../src/db/sms.repository.js';
import { effectiveStatus } from '../src/domain/card.presenter.js';
import { RegistrySnapshot, type Cinema, type Kind, type Partner } from '../src/domain/registry.js';
import { luhnCheckDigit } from '../src/domain/secrets.js';
import type { SecretBox } from '../src/domain/secret-box.js';
import { maskMobile, PASSWORD_MASK, renderSmsText, sealSmsText } from '../src/domain/sms-template.js';
import { formatYmdHis } from '../src/domain/time.js';
import { prng } from '../test/support/prng.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** The expiry sweep runs every 30 s, so a lapsed card is recorded expired up to 30 s late. */
const SWEEP_MS = 30 * SECOND;

export interface GenerateOptions {
  cards: number;
  /** The generated history ends here (epoch ms). */
  now: number;
  /** How far back the first card was bought; default two years. */
  spanDays?: number;
  /** Seeds the fates of cards (states, times, counts); card numbers and ids are always random. */
  seed?: number;
  cardsPerTransaction?: number;
  timeZone: string;
  smsTemplate: string;
  payDeadlineMin: number;
  cinemaValidDays: number;
  /** Card numbers kept for lookups afterwards, drawn evenly over the whole run. */
  sampleSize?: number;
  /** SQLite page cache during the load, MB. */
  sqliteCacheMb?: number;
  /** Seals card passwords and queued SMS as the server does; the server must use the same key. */
  secrets: SecretBox;
  onProgress?: (done: number, total: number) => void;
}

export interface GeneratedCard {
  card_no: string;
  partner_id: string;
  status: CardStatus;
  /** What `status` answers at `now` (a lapsed card the sweep has not reached yet is expired). */
  effective: CardStatus;
  /** When an inactive or active card's deadline passes and `status` starts answering expired. */
  lapsesAt: number | null;
}

export interface GenerateResult {
  cards: number;
  events: number;
  sms: number;
  redemptions: number;
  /** Stored states. */
  byStatus: Record<string, number>;
  sample: GeneratedCard[];
  ms: number;
}

/** 16-digit card numbers like generateCardNo() makes, from bulk CSPRNG bytes (one call per 4096). */
function cardNoSource(): () => string {
  let pool = Buffer.alloc(0);
  let at = 0;
  return () => {
    if (at + 8 > pool.length) {
      pool = randomBytes(8 * 4096);
      at = 0;
    }
    const hi = pool.readUInt32BE(at) % 900_000;
    const lo = pool.readUInt32BE(at + 4) % 1_000_000_000;
    at += 8;
    const body = String(100_000 + hi) + String(lo).padStart(9, '0');
    return body + String(luhnCheckDigit(body));
  };
}

const EVENT_COLUMNS = [
  'card_no',
  'seq',
  'type',
  'at',
  'actor',
  'data',
] as const satisfies BulkColumns<'card_events'>;
const SMS_COLUMNS = NEW_SMS_COLUMNS satisfies BulkColumns<'sms_messages'>;
const SMS_TEXT = SMS_COLUMNS.indexOf('text');
const SMS_STATUS = SMS_COLUMNS.indexOf('status');
const REDEMPTION_COLUMNS = [
  'redemption_id',
  'card_no',
  'cinema_id',
  'count',
  'user_id',
  'at',
  'undone_at',
  'undone_by',
] as const satisfies BulkColumns<'redemptions'>;

type Row = unknown[];

/** One card with everything written for it, before its number is known to be unique. */
interface Draft {
  card: CardRow;
  events: Row[];
  sms: Row[];
  /** Each SMS's full text (with the password), beside `sms` whose text column is masked. */
  smsText: string[];
  redemptions: Row[];
}

interface Catalog {
  partners: Partner[];
  cinemas: Cinema[];
  kinds: Kind[];
  snapshot: RegistrySnapshot;
}

async function loadCatalog(db: Db): Promise<Catalog> {
  const snapshot = new RegistrySnapshot(await loadRegistryRows(db.kysely));
  const partners = [...snapshot.partners.values()].filter((p) => p.status === 'active');
  const cinemas = [...snapshot.cinemasById.values()].filter((c) => c.active === 1);
  const kinds = snapshot.kinds.filter((k) => k.active === 1 && k.cinemaIds.length > 0);
  if (partners.length === 0) throw new Error('no active partner to generate cards for (load the demo data)');
  if (cinemas.length === 0) throw new Error('no active cinema to generate cards for');
  return { partners, cinemas, kinds, snapshot };
}

/**
 * Writes `opts.cards` cards in transactions of `cardsPerTransaction` cards. Cards are made in
 * the order they were bought, over `spanDays` with trade growing towards `now`, so time-ordered
 * indexes fill at their ends as in production while card numbers land all over theirs.
 */
export async function generateCards(db: Db, opts: GenerateOptions): Promise<GenerateResult> {
  const started = performance.now();
  const catalog = await loadCatalog(db);
  const random = prng(opts.seed ?? 1);
  const nextCardNo = cardNoSource();
  const span = (opts.spanDays ?? 730) * DAY;
  const perTx = opts.cardsPerTransaction ?? 20_000;
  const sampleEvery = Math.max(1, Math.floor(opts.cards / (opts.sampleSize ?? 10_000)));
  const result: GenerateResult = {
    cards: 0,
    events: 0,
    sms: 0,
    redemptions: 0,
    byStatus: {},
    sample: [],
    ms: 0,
  };
  const dates = new Map<number, string>();
  // The SMS text shows the date only; dates change on quarter hours in every time zone.
  const dateOf = (ms: number): string => {
    const key = Math.floor(ms / (15 * MINUTE));
    let d = dates.get(key);
    if (d === undefined) {
      const t = formatYmdHis(ms, opts.timeZone);
      d = `${t.slice(0, 4)}-${t.slice(4, 6)}-${t.slice(6, 8)}`;
      dates.set(key, d);
    }
    return d;
  };
  const ctx: DraftContext = { opts, catalog, random, dateOf };

  for (let first = 0; first < opts.cards; first += perTx) {
    const n = Math.min(perTx, opts.cards - first);
    const drafts: Draft[] = [];
    for (let i = first; i < first + n; i++) {
      // Trade grows linearly, so the bought-at density rises towards now: age = span·(1−x)².
      const x = (i + random()) / opts.cards;
      const createdAt = Math.round(opts.now - span * (1 - x) * (1 - x));
      drafts.push(draftCard(ctx, nextCardNo(), createdAt));
    }
    await loadInBulk(
      db,
      async (loader) => {
        await makeUnique(loader, drafts, nextCardNo);
        await writeDrafts(loader, drafts, opts.secrets);
      },
      { sqliteCacheMb: opts.sqliteCacheMb },
    );
    for (const [k, d] of drafts.entries()) {
      result.cards++;
      result.events += d.events.length;
      result.sms += d.sms.length;
      result.redemptions += d.redemptions.length;
      const { card_no, partner_id, status } = d.card;
      result.byStatus[status] = (result.byStatus[status] ?? 0) + 1;
      if ((first + k) % sampleEvery === 0) {
        result.sample.push({
          card_no,
          partner_id,
          status,
          effective: effectiveStatus(d.card, opts.now),
          lapsesAt: lapseTime(d.card),
        });
      }
    }
    opts.onProgress?.(first + n, opts.cards);
  }
  result.ms = performance.now() - started;
  return result;
}

export function lapseTime(card: Pick<CardRow, 'status' | 'pay_deadline' | 'valid_until'>): number | null {
  if (card.status === 'inactive') return card.pay_deadline;
  if (card.status === 'active') return card.valid_until;
  return null;
}

/** Draws new numbers for drafts whose number repeats within the batch or is stored already. */
async function makeUnique(loader: BulkLoader, drafts: Draft[], nextCardNo: () => string): Promise<void> {
  let suspects = drafts;
  for (let round = 0; suspects.length > 0; round++) {
    if (round > 10) throw new Error('could not draw unique card numbers');
    const seen = new Set<string>();
    const again: Draft[] = [];
    for (const d of drafts) {
      if (seen.has(d.card.card_no)) again.push(d);
      else seen.add(d.card.card_no);
    }
    const stored = new Set(await loader.existingCardNos(suspects.map((d) => d.card.card_no)));
    for (const d of suspects) if (stored.has(d.card.card_no) && !again.includes(d)) again.push(d);
    for (const d of again) renumber(d, nextCardNo());
    suspects = again;
  }
}

function renumber(d: Draft, cardNo: string): void {
  const old = d.card.card_no;
  d.card.card_no = cardNo;
  for (const e of d.events) e[0] = cardNo;
  for (const r of d.redemptions) r[1] = cardNo;
  for (const m of d.sms) {
    m[1] = cardNo;
    m[3] = (m[3] as string).replace(old, cardNo);
  }
  d.smsText = d.smsText.map((text) => text.replace(old, cardNo));
}

async function writeDrafts(loader: BulkLoader, drafts: Draft[], secrets: SecretBox): Promise<void> {
  await loader.insert(
    'cards',
    CARD_COLUMNS,
    drafts.map((d) =>
      CARD_COLUMNS.map((c) =>
        c === 'password' && d.card.password !== null ? secrets.seal(d.card.password) : d.card[c],
      ),
    ),
  );
  await loader.insert(
    'card_events',
    EVENT_COLUMNS,
    drafts.flatMap((d) => d.events),
  );
  await loader.insert(
    'sms_messages',
    SMS_COLUMNS,
    drafts.flatMap((d) =>
      d.sms.map((m, i) => {
        if (m[SMS_STATUS] !== 'queued') return m;
        const sealed = [...m];
        sealed[SMS_TEXT] = sealSmsText(secrets, d.smsText[i]!, m[SMS_TEXT] as string);
        return sealed;
      }),
    ),
  );
  await loader.insert(
    'redemptions',
    REDEMPTION_COLUMNS,
    drafts.flatMap((d) => d.redemptions),
  );
}

interface DraftContext {
  opts: GenerateOptions;
  catalog: Catalog;
  random: () => number;
  dateOf: (ms: number) => string;
}

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}

function ticketCount(random: () => number): number {
  const u = random();
  if (u < 0.6) return 1;
  if (u < 0.85) return 2;
  if (u < 0.95) return 3 + Math.floor(random() * 2);
  return 5 + Math.floor(random() * 6);
}

function mobileNumber(random: () => number): string {
  return `1${pick(random, ['3', '5', '7', '8', '9'])}${String(Math.floor(random() * 1e9)).padStart(9, '0')}`;
}

/**
 * One card's life, replaying what the services write: buy (created) → pay (activated, an SMS
 * queued, then sent or failed) → perhaps an SMS resend → redemptions at the cinema → used, or
 * expired by the sweep when the validity lapsed; some are never paid (expired) or are banned.
 * Only what happened before `now` is written.
 */
function draftCard(ctx: DraftContext, cardNo: string, createdAt: number): Draft {
  const { opts, catalog, random } = ctx;
  const now = opts.now;
  const partner = pick(random, catalog.partners);
  const partnerActor = `partner:${partner.partnerId}`;
  const byKind = catalog.kinds.length > 0 && random() < 0.25;
  const kind = byKind ? pick(random, catalog.kinds) : undefined;
  const cinema = kind ? undefined : pick(random, catalog.cinemas);
  const priceFen = kind
    ? catalog.snapshot.kindPrice(partner, kind)
    : catalog.snapshot.cinemaPrice(partner, cinema!);
  const count = ticketCount(random);
  const orderNo =
    random() < 0.8
      ? // Unique per partner in practice, as the platform requires (migration 010).
        `${partner.partnerId}${createdAt.toString(36).toUpperCase()}${Math.floor(random() * 1e9)}`
      : null;
  const payDeadline = createdAt + opts.payDeadlineMin * MINUTE;
  const validDays = kind ? kind.valid_days : cinema!.valid_days || opts.cinemaValidDays;

  const card = {
    status: 'inactive' as CardStatus,
    used_count: 0,
    password: null as string | null,
    mobile: null as string | null,
    paid_at: null as number | null,
    valid_until: null as number | null,
    banned_at: null as number | null,
    ban_reason: null as string | null,
    expired_at: null as number | null,
    sms_status: 'none' as 'none' | 'queued' | 'sent' | 'failed',
    updated_at: createdAt,
  };
  const events: Row[] = [];
  const sms: Row[] = [];
  const smsText: string[] = [];
  const redemptions: Row[] = [];
  const event = (type: string, at: number, actor: string, data: Record<string, unknown>) => {
    events.push([cardNo, events.length + 1, type, at, actor, JSON.stringify(data)]);
    card.updated_at = at;
  };
  event('created', createdAt, partnerActor, {
    status: 'inactive',
    cinema_id: cinema?.cinema_id ?? null,
    kind_id: kind?.kind_id ?? null,
    order_no: orderNo,
    count,
    price_fen: priceFen,
    total_fen: priceFen * count,
    pay_deadline: payDeadline,
  });
  const ban = (at: number) => {
    const reason = pick(random, ['渠道退款', '用户取消订单', '']);
    Object.assign(card, { status: 'banned', banned_at: at, ban_reason: reason || null });
    event('banned', at, partnerActor, { status: 'banned', banned_at: at, reason });
  };
  const expire = (at: number, from: CardStatus) => {
    Object.assign(card, { status: 'expired', expired_at: at });
    event('expired', at, 'system', { status: 'expired', from, expired_at: at });
  };
  const queueSms = (at: number, reason: 'activation' | 'resend') => {
    const id = randomUUID();
    const mobile = card.mobile!;
    const values = {
      target: cinema?.cinema_name ?? kind!.kind_name,
      count: String(count),
      card_no: cardNo,
      password: card.password!,
      valid_until: ctx.dateOf(card.valid_until!),
    };
    smsText.push(renderSmsText(opts.smsTemplate, values));
    // Stored as the server keeps it: masked once settled, sealed whole while queued (writeDrafts).
    const text = renderSmsText(opts.smsTemplate, { ...values, password: PASSWORD_MASK });
    card.sms_status = 'queued';
    event('sms_queued', at, 'system', {
      message_id: id,
      reason,
      mobile: maskMobile(mobile),
      sms_status: 'queued',
    });
    const u = random();
    const sentAt = at + SECOND + Math.floor(random() * 4 * SECOND);
    const failedAt = at + 2 * HOUR + Math.floor(random() * HOUR);
    if (u < 0.003 && failedAt <= now) {
      sms.push([
        id,
        cardNo,
        mobile,
        text,
        reason,
        'failed',
        10,
        failedAt,
        0,
        'Error: gateway timeout',
        at,
        null,
      ]);
      card.sms_status = 'failed';
      event('sms_failed', failedAt, 'system', { message_id: id, attempts: 10, sms_status: 'failed' });
      return failedAt;
    }
    if (u >= 0.003 && sentAt <= now) {
      sms.push([id, cardNo, mobile, text, reason, 'sent', 1, at, 0, null, at, sentAt]);
      card.sms_status = 'sent';
      event('sms_sent', sentAt, 'system', { message_id: id, attempts: 1, sms_status: 'sent' });
      return sentAt;
    }
    sms.push([id, cardNo, mobile, text, reason, 'queued', 0, at, 0, null, at, null]);
    return at;
  };

  const fate = random();
  const paidAt = createdAt + 5 * SECOND + Math.floor(random() * 10 * MINUTE);
  if (fate < 0.07 || paidAt > now) {
    // Never paid: 1 in 7 of these is banned by the channel, the rest lapse at the deadline.
    const bannedAt = createdAt + Math.floor(random() * opts.payDeadlineMin * MINUTE);
    const expiredAt = payDeadline + Math.floor(random() * SWEEP_MS);
    if (fate < 0.01 && bannedAt <= now) ban(bannedAt);
    else if (expiredAt <= now) expire(expiredAt, 'inactive');
  } else {
    const validUntil = paidAt + validDays * DAY;
    Object.assign(card, {
      status: 'active',
      password: String(Math.floor(random() * 1e8)).padStart(8, '0'),
      mobile: mobileNumber(random),
      paid_at: paidAt,
      valid_until: validUntil,
    });
    event('activated', paidAt, partnerActor, {
      status: 'active',
      paid_at: paidAt,
      valid_until: validUntil,
      mobile: maskMobile(card.mobile),
    });
    let last = queueSms(paidAt, 'activation');
    const resendAt = last + HOUR + Math.floor(random() * 3 * DAY);
    if (random() < 0.02 && resendAt <= now && resendAt < validUntil) last = queueSms(resendAt, 'resend');
    const bannedAt = last + Math.floor(random() * 2 * DAY);
    if (fate < 0.085 && bannedAt <= now && bannedAt < validUntil) {
      ban(bannedAt);
    } else {
      // Most use all their tickets, mostly early in the validity; some use part or none.
      const plan = random();
      const toUse = plan < 0.75 ? count : plan < 0.85 ? Math.floor(random() * count) : 0;
      const visits = Math.min(toUse, 1 + Math.floor(random() * 3));
      const times = Array.from(
        { length: visits },
        () => last + Math.floor((validUntil - last) * random() ** 2),
      );
      times.sort((a, b) => a - b);
      let used = 0;
      for (const [v, at] of times.entries()) {
        if (at > now) break;
        const tickets =
          v === visits - 1 ? toUse - used : Math.max(1, Math.floor((toUse - used) / (visits - v)));
        used += tickets;
        const status: CardStatus = used === count ? 'used' : 'active';
        const where = cinema?.cinema_id ?? pick(random, kind!.cinemaIds);
        const redemptionId = randomUUID();
        redemptions.push([redemptionId, cardNo, where, tickets, `staff-${where}`, at, null, null]);
        Object.assign(card, { used_count: used, status });
        event('redeemed', at, `user:staff-${where}`, {
          count: tickets,
          cinema_id: where,
          redemption_id: redemptionId,
          used_count: used,
          status,
        });
      }
      const expiredAt = validUntil + Math.floor(random() * SWEEP_MS);
      if (card.status === 'active' && expiredAt <= now) expire(expiredAt, 'active');
    }
  }
  return {
    card: {
      card_no: cardNo,
      partner_id: partner.partnerId,
      cinema_id: cinema?.cinema_id ?? null,
      kind_id: kind?.kind_id ?? null,
      order_no: orderNo,
      order_superseded: 0,
      count,
      price_fen: priceFen,
      total_fen: priceFen * count,
      created_at: createdAt,
      pay_deadline: payDeadline,
      frozen_at: null,
      frozen_reason: null,
      tries_reset_at: 0,
      ...card,
    },
    events,
    sms,
    smsText,
    redemptions,
  };
}
