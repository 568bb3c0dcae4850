import {
  appendCardEvent,
  findCard,
  findCardByOrder,
  insertCard,
  updateCard,
  type CardRow,
} from '../db/card.repository.js';
import { type ActivateCard, activateCard, banCard, planActivation } from './card-commands.js';
import {
  type CreatedEvent,
  isCardNoTaken,
  isUniqueViolation,
  storeIssuedCardOnce,
} from '../db/issue.repository.js';
import type { DirectMutation } from './direct-mutation.js';
import { type LedgerEvent, type PaymentWrites, storePaymentOnce } from '../db/payment.repository.js';
import type { CardTable } from '../db/schema.js';
import { countResendsSince, insertSmsMessage, type NewSmsMessage } from '../db/sms.repository.js';
import type { Executor } from '../db/tx.js';
import { cardState, contractError, notFound, orderExists, smsDailyLimit } from '../errors.js';
import { effectiveStatus, presentBoughtCard, presentCardStatus, presentPaidCard } from './card.presenter.js';
import type { Clock } from './clock.js';
import type { Partner, Registry, RegistrySnapshot } from './registry.js';
import type { SecretBox } from './secret-box.js';
import { generateCardNo, generatePassword } from './secrets.js';
import { maskMobile, PASSWORD_MASK, renderSmsText, sealSmsText } from './sms-template.js';
import { formatYmdHis, startOfDay } from './time.js';
import type { WireObject } from './wire.js';
import { timeOrderedId } from './time-ordered-id.js';

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

  /**
   * A card bought at a cinema, ready to store (see `DirectMutation`). `snap` is the snapshot the
   * request was authorized with, so its price is the one it saw.
   */
  buyByCinema(
    partner: Partner,
    cinemaId: string,
    req: BuyRequest,
    snap: RegistrySnapshot = this.registry.snapshot,
  ): DirectMutation {
    const cinema = snap.cinemasById.get(cinemaId);
    if (!cinema || !cinema.active) throw notFound('cinema', cinemaId);
    return this.issue(
      partner,
      { cinema_id: cinemaId, kind_id: null },
      snap.cinemaPrice(partner, cinema),
      req,
    );
  }

  buyByKind(
    partner: Partner,
    kindId: string,
    req: BuyRequest,
    snap: RegistrySnapshot = this.registry.snapshot,
  ): DirectMutation {
    const kind = snap.kindsById.get(kindId);
    if (!kind || !kind.active) throw notFound('kind', kindId);
    return this.issue(partner, { cinema_id: null, kind_id: kindId }, snap.kindPrice(partner, kind), req);
  }

  private issue(
    partner: Partner,
    target: Pick<CardTable, 'cinema_id' | 'kind_id'>,
    priceFen: number,
    req: BuyRequest,
  ): DirectMutation {
    const now = this.clock.now();
    const card: CardRow = {
      card_no: '',
      partner_id: partner.partnerId,
      ...target,
      order_no: req.orderNo ?? null,
      order_superseded: 0,
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
    const event: CreatedEvent = {
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
    };
    const answer = () => ({ card: presentBoughtCard(card, this.settings.timeZone) });
    // 10^15 random numbers: a collision is rare; draw again if one happens.
    const drawn = () => (card.card_no = generateCardNo());
    const tooManyDraws = () => contractError('internal', 'could not draw a unique card number');
    // The unique index on (partner_id, order_no) decides between racing buys of one order.
    const refuseTakenOrder = async (db: Executor) => {
      if (req.orderNo === undefined) return;
      const holder = await findCardByOrder(db, partner.partnerId, req.orderNo);
      if (holder) throw orderExists(req.orderNo, holder.card_no);
    };
    return {
      write: async (tx) => {
        for (let attempt = 0; ; attempt++) {
          drawn();
          if (await insertCard(tx, card)) break;
          await refuseTakenOrder(tx);
          if (attempt >= 5) throw tooManyDraws();
        }
        await appendCardEvent(tx, { card_no: card.card_no, seq: 1, ...event });
        return answer();
      },
      writeWithClaim: async (db, claimOf) => {
        for (let attempt = 0; ; attempt++) {
          drawn();
          const data = answer();
          const json = JSON.stringify(data);
          try {
            return (await storeIssuedCardOnce(db, claimOf(json), card, event)) ? { data, json } : undefined;
          } catch (err) {
            if (!isCardNoTaken(err)) {
              if (isUniqueViolation(err)) await refuseTakenOrder(db);
              throw err;
            }
            if (attempt >= 5) throw tooManyDraws();
          }
        }
      },
    };
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
    const activated = await activateCard(
      tx,
      this.activation(partner, card, now, password, mobile, totalFen, snap),
    );
    // The answer shows the password in the clear (the request log seals the stored answer).
    const paid: CardRow = { ...activated, password };
    await storeQueuedSms(tx, this.smsQueued(paid, password, mobile, 'activation', now, snap));
    return { card: presentPaidCard(paid, this.settings.timeZone) };
  }

  /**
   * A payment, for `RequestLog.runOnceChecked`: `write` is `pay`; `writeWithClaim` reads the card
   * outside a transaction, judges it as `pay` does (throwing its refusal), and stores the very
   * writes `pay` would make with the claim in one statement (undefined when the card changed).
   */
  payment(
    partner: Partner,
    cardNo: string,
    mobile: string,
    totalFen: number | undefined,
    snap: RegistrySnapshot = this.registry.snapshot,
  ): DirectMutation {
    return {
      write: (tx) => this.pay(tx, partner, cardNo, mobile, totalFen, snap),
      writeWithClaim: async (db, claimOf) => {
        const card = await this.ownCard(db, partner, cardNo);
        const { data, json, writes } = this.planPayment(card, { partner, mobile, totalFen, snap });
        return (await storePaymentOnce(db, claimOf(json), writes)) ? { data, json } : undefined;
      },
    };
  }

  /** A payment of the card as read: its answer and its writes (`storePaymentOnce`'s). */
  private planPayment(
    card: CardRow,
    p: { partner: Partner; mobile: string; totalFen: number | undefined; snap: RegistrySnapshot },
  ): { data: WireObject; json: string; writes: PaymentWrites } {
    const now = this.clock.now();
    const password = generatePassword();
    const { changes, event } = planActivation(
      this.activation(p.partner, card, now, password, p.mobile, p.totalFen, p.snap),
    );
    const paid: CardRow = { ...card, ...changes, password };
    const sms = this.smsQueued(paid, password, p.mobile, 'activation', now, p.snap);
    const data = { card: presentPaidCard(paid, this.settings.timeZone) };
    return {
      data,
      json: JSON.stringify(data),
      writes: {
        cardNo: card.card_no,
        partnerId: p.partner.partnerId,
        readUpdatedAt: card.updated_at,
        now,
        changes,
        activated: event,
        sms: sms.message,
        smsQueued: sms.event,
      },
    };
  }

  private activation(
    partner: Partner,
    card: CardRow,
    now: number,
    password: string,
    mobile: string,
    totalFen: number | undefined,
    snap: RegistrySnapshot,
  ): ActivateCard {
    return {
      card,
      actor: `partner:${partner.partnerId}`,
      now,
      mobile,
      sealedPassword: this.secrets.seal(password),
      validUntil: now + this.validDays(card, snap) * DAY_MS,
      totalFen,
    };
  }

  /** The card by its number or by the channel's order number it was bought under. */
  async status(
    db: Executor,
    partner: Partner,
    by: { cardNo: string } | { orderNo: string },
  ): Promise<WireObject> {
    let card: CardRow | undefined;
    if ('orderNo' in by) {
      card = await findCardByOrder(db, partner.partnerId, by.orderNo);
      if (!card) throw notFound('order', by.orderNo);
    } else card = await this.ownCard(db, partner, by.cardNo);
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
      throw smsDailyLimit(cardNo, MAX_RESENDS_PER_DAY, (dayStart + DAY_MS - now) / 1000);
    }
    const to = mobile ?? card.mobile ?? '';
    const changes = { mobile: to, sms_status: 'queued' as const, updated_at: now };
    await updateCard(tx, cardNo, changes);
    const updated: CardRow = { ...card, ...changes };
    const password = this.secrets.open(card.password ?? '');
    await storeQueuedSms(tx, this.smsQueued(updated, password, to, 'resend', now, snap));
    return { card: presentCardStatus(updated, now, this.settings.timeZone) };
  }

  /** A queued SMS of the card's password and its `sms_queued` ledger event. */
  private smsQueued(
    card: CardRow,
    password: string,
    mobile: string,
    reason: 'activation' | 'resend',
    now: number,
    snap: RegistrySnapshot,
  ): { message: NewSmsMessage; event: LedgerEvent } {
    const id = timeOrderedId(now);
    const values = this.smsValues(card, password, snap);
    return {
      message: {
        id,
        card_no: card.card_no,
        mobile,
        text: sealSmsText(
          this.secrets,
          renderSmsText(this.settings.smsTemplate, values),
          renderSmsText(this.settings.smsTemplate, { ...values, password: PASSWORD_MASK }),
          values,
        ),
        reason,
        status: 'queued',
        attempts: 0,
        next_attempt_at: now,
        locked_until: 0,
        last_error: null,
        created_at: now,
        sent_at: null,
      },
      event: {
        type: 'sms_queued',
        at: now,
        actor: 'system',
        data: JSON.stringify({ message_id: id, reason, mobile: maskMobile(mobile), sms_status: 'queued' }),
      },
    };
  }

  /** The template's values: the text's placeholders, and a provider template's parameters. */
  private smsValues(card: CardRow, password: string, snap: RegistrySnapshot): Record<string, string> {
    const target = card.cinema_id
      ? (snap.cinemasById.get(card.cinema_id)?.cinema_name ?? card.cinema_id)
      : (snap.kindsById.get(card.kind_id ?? '')?.kind_name ?? card.kind_id ?? '');
    const validUntil = card.valid_until === null ? '' : formatDate(card.valid_until, this.settings.timeZone);
    return { target, count: String(card.count), card_no: card.card_no, password, valid_until: validUntil };
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

/** Stores a queued SMS and its ledger event (see `CardService.smsQueued`). */
async function storeQueuedSms(
  tx: Executor,
  sms: { message: NewSmsMessage; event: LedgerEvent },
): Promise<void> {
  await insertSmsMessage(tx, sms.message);
  await appendCardEvent(tx, { card_no: sms.message.card_no, ...sms.event });
}

/** `YYYY-MM-DD` in the zone. */
function formatDate(ms: number, tz: string): string {
  const t = formatYmdHis(ms, tz);
  return `${t.slice(0, 4)}-${t.slice(4, 6)}-${t.slice(6, 8)}`;
}
