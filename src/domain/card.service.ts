import { randomUUID } from 'node:crypto';
import { appendCardEvent, findCard, insertCard, updateCard, type CardRow } from '../db/card.repository.js';
import { activateCard, banCard } from './card-commands.js';
import type { CardTable } from '../db/schema.js';
import { countResendsSince, insertSmsMessage } from '../db/sms.repository.js';
import type { Executor } from '../db/tx.js';
import { cardState, contractError, notFound, rateLimited } from '../errors.js';
import { effectiveStatus, presentBoughtCard, presentCardStatus, presentPaidCard } from './card.presenter.js';
import type { Clock } from './clock.js';
import type { Partner, Registry, RegistrySnapshot } from './registry.js';
import type { SecretBox } from './secret-box.js';
import { generateCardNo, generatePassword } from './secrets.js';
import { maskMobile, PASSWORD_MASK, renderSmsText, sealSmsText } from './sms-template.js';
import { formatYmdHis, startOfDay } from './time.js';
import type { WireObject } from './wire.js';

const DAY_MS = 86_400_000;
export const MAX_RESENDS_PER_DAY = 5;

export interface CardSettings {
  timeZone: string;
  payDeadlineMin: number;
  cinemaValidDays: number;
  smsTemplate: string;
}

export interface BuyRequest {
  count: number;
  orderNo?: string;
}

/** The card lifecycle as channels drive it: buy, pay, query, ban, resend SMS. */
export class CardService {
  constructor(
    private readonly registry: Registry,
    private readonly clock: Clock,
    private readonly settings: CardSettings,
    /** Seals the password in the card row and in the queued SMS; opens it for a resend. */
    private readonly secrets: SecretBox,
  ) {}

  /** `snap` is the snapshot the request was authorized with, so its price is the one it saw. */
  buyByCinema(
    tx: Executor,
    partner: Partner,
    cinemaId: string,
    req: BuyRequest,
    snap: RegistrySnapshot = this.registry.snapshot,
  ): Promise<WireObject> {
    const cinema = snap.cinemasById.get(cinemaId);
    if (!cinema || !cinema.active) throw notFound('cinema', cinemaId);
    return this.issue(
      tx,
      partner,
      { cinema_id: cinemaId, kind_id: null },
      snap.cinemaPrice(partner, cinema),
      req,
    );
  }

  buyByKind(
    tx: Executor,
    partner: Partner,
    kindId: string,
    req: BuyRequest,
    snap: RegistrySnapshot = this.registry.snapshot,
  ): Promise<WireObject> {
    const kind = snap.kindsById.get(kindId);
    if (!kind || !kind.active) throw notFound('kind', kindId);
    return this.issue(tx, partner, { cinema_id: null, kind_id: kindId }, snap.kindPrice(partner, kind), req);
  }

  private async issue(
    tx: Executor,
    partner: Partner,
    target: Pick<CardTable, 'cinema_id' | 'kind_id'>,
    priceFen: number,
    req: BuyRequest,
  ): Promise<WireObject> {
    const now = this.clock.now();
    const card: CardRow = {
      card_no: '',
      partner_id: partner.partnerId,
      ...target,
      order_no: req.orderNo ?? null,
      status: 'inactive',
      count: req.count,
      used_count: 0,
      price_fen: priceFen,
      total_fen: priceFen * req.count,
      password: null,
      mobile: null,
      created_at: now,
      pay_deadline: now + this.settings.payDeadlineMin * 60_000,
      paid_at: null,
      valid_until: null,
      banned_at: null,
      ban_reason: null,
      expired_at: null,
      sms_status: 'none',
      updated_at: now,
      frozen_at: null,
      frozen_reason: null,
      tries_reset_at: 0,
    };
    // 10^15 random numbers: a collision is rare; draw again if one happens.
    for (let attempt = 0; ; attempt++) {
      card.card_no = generateCardNo();
      if (await insertCard(tx, card)) break;
      if (attempt >= 5) throw contractError('internal', 'could not draw a unique card number');
    }
    await appendCardEvent(tx, {
      card_no: card.card_no,
      seq: 1,
      type: 'created',
      at: now,
      actor: `partner:${partner.partnerId}`,
      data: JSON.stringify({
        status: 'inactive',
        cinema_id: card.cinema_id,
        kind_id: card.kind_id,
        order_no: card.order_no,
        count: card.count,
        price_fen: card.price_fen,
        total_fen: card.total_fen,
        pay_deadline: card.pay_deadline,
      }),
    });
    return { card: presentBoughtCard(card, this.settings.timeZone) };
  }

  async pay(
    tx: Executor,
    partner: Partner,
    cardNo: string,
    mobile: string,
    totalFen?: number,
    /** The snapshot the request was authorized with: its validity days and names are current. */
    snap: RegistrySnapshot = this.registry.snapshot,
  ): Promise<WireObject> {
    const now = this.clock.now();
    const card = await this.ownCard(tx, partner, cardNo);
    const password = generatePassword();
    const activated = await activateCard(tx, {
      card,
      actor: `partner:${partner.partnerId}`,
      now,
      mobile,
      sealedPassword: this.secrets.seal(password),
      validUntil: now + this.validDays(card, snap) * DAY_MS,
      totalFen,
    });
    // The answer shows the password in the clear (the request log seals the stored answer).
    const paid: CardRow = { ...activated, password };
    await this.queueSms(tx, paid, password, mobile, 'activation', now, snap);
    return { card: presentPaidCard(paid, this.settings.timeZone) };
  }

  async status(db: Executor, partner: Partner, cardNo: string): Promise<WireObject> {
    const card = await this.ownCard(db, partner, cardNo);
    return { card: presentCardStatus(card, this.clock.now(), this.settings.timeZone) };
  }

  async ban(tx: Executor, partner: Partner, cardNo: string, reason?: string): Promise<WireObject> {
    const now = this.clock.now();
    const { card } = await banCard(tx, {
      cardNo,
      actor: `partner:${partner.partnerId}`,
      reason: reason ?? null,
      now,
      partnerId: partner.partnerId,
    });
    return { card: presentCardStatus(card, now, this.settings.timeZone) };
  }

  async resendSms(
    tx: Executor,
    partner: Partner,
    cardNo: string,
    mobile?: string,
    snap: RegistrySnapshot = this.registry.snapshot,
  ): Promise<WireObject> {
    const now = this.clock.now();
    const card = await this.ownCard(tx, partner, cardNo);
    const status = effectiveStatus(card, now);
    if (status !== 'active') throw cardState(cardNo, status, 'resend its SMS');
    const dayStart = startOfDay(now, this.settings.timeZone);
    if ((await countResendsSince(tx, cardNo, dayStart)) >= MAX_RESENDS_PER_DAY) {
      throw rateLimited(
        `card ${cardNo} reached ${MAX_RESENDS_PER_DAY} SMS resends today`,
        (dayStart + DAY_MS - now) / 1000,
        'card.resend_limit',
        { card_no: cardNo, max: MAX_RESENDS_PER_DAY },
      );
    }
    const to = mobile ?? card.mobile ?? '';
    const changes = { mobile: to, sms_status: 'queued' as const, updated_at: now };
    await updateCard(tx, cardNo, changes);
    const updated: CardRow = { ...card, ...changes };
    await this.queueSms(tx, updated, this.secrets.open(card.password ?? ''), to, 'resend', now, snap);
    return { card: presentCardStatus(updated, now, this.settings.timeZone) };
  }

  private async queueSms(
    tx: Executor,
    card: CardRow,
    password: string,
    mobile: string,
    reason: 'activation' | 'resend',
    now: number,
    snap: RegistrySnapshot,
  ) {
    const id = randomUUID();
    await insertSmsMessage(tx, {
      id,
      card_no: card.card_no,
      mobile,
      text: sealSmsText(
        this.secrets,
        this.smsText(card, password, snap),
        this.smsText(card, PASSWORD_MASK, snap),
      ),
      reason,
      status: 'queued',
      attempts: 0,
      next_attempt_at: now,
      locked_until: 0,
      last_error: null,
      created_at: now,
      sent_at: null,
    });
    await appendCardEvent(tx, {
      card_no: card.card_no,
      type: 'sms_queued',
      at: now,
      actor: 'system',
      data: JSON.stringify({ message_id: id, reason, mobile: maskMobile(mobile), sms_status: 'queued' }),
    });
  }

  private smsText(card: CardRow, password: string, snap: RegistrySnapshot): string {
    const target = card.cinema_id
      ? (snap.cinemasById.get(card.cinema_id)?.cinema_name ?? card.cinema_id)
      : (snap.kindsById.get(card.kind_id ?? '')?.kind_name ?? card.kind_id ?? '');
    const validUntil = card.valid_until === null ? '' : formatDate(card.valid_until, this.settings.timeZone);
    return renderSmsText(this.settings.smsTemplate, {
      target,
      count: String(card.count),
      card_no: card.card_no,
      password,
      valid_until: validUntil,
    });
  }

  private validDays(card: CardRow, snap: RegistrySnapshot): number {
    if (card.kind_id) return snap.kindsById.get(card.kind_id)?.valid_days ?? this.settings.cinemaValidDays;
    return snap.cinemasById.get(card.cinema_id ?? '')?.valid_days ?? this.settings.cinemaValidDays;
  }

  /** Another partner's card is reported exactly like a card that does not exist. */
  private async ownCard(db: Executor, partner: Partner, cardNo: string): Promise<CardRow> {
    const card = await findCard(db, cardNo);
    if (!card || card.partner_id !== partner.partnerId) throw notFound('card', cardNo);
    return card;
  }
}

/** `YYYY-MM-DD` in the zone. */
function formatDate(ms: number, tz: string): string {
  const t = formatYmdHis(ms, tz);
  return `${t.slice(0, 4)}-${t.slice(4, 6)}-${t.slice(6, 8)}`;
}
