import { findCard, listCardEvents, updateCard, type CardRow } from '../db/card.repository.js';
import { findRedemption, lockCardRow, type RedemptionRow } from '../db/redemption.repository.js';
import type { Executor } from '../db/tx.js';
import { cardState, notFound } from '../errors.js';
import { effectiveStatus, presentCardStatus } from './card.presenter.js';
import { changedMeanwhile, expireCard, redeemCard, undoRedemption } from './card-commands.js';
import type { Clock } from './clock.js';
import type { TestDelivery } from './notify.js';
import type { Partner, RegistrySnapshot } from './registry.js';
import { formatYmdHis } from './time.js';
import type { WireObject } from './wire.js';

/** The user a sandbox redemption is recorded under (no staff account stands behind it). */
export const SANDBOX_USER = 'sandbox';

/**
 * What a channel may do to its own cards on a sandbox server (never a production one): what
 * otherwise only a cinema or time does — redeem, undo a redemption, expire — through the same
 * card commands, so the ledger, the status and the callbacks are the real ones. And a test
 * callback sent to its URL on request.
 */
export class SandboxService {
  constructor(
    private readonly clock: Clock,
    private readonly timeZone: string,
    private readonly sendTest: (partnerId: string) => Promise<TestDelivery>,
  ) {}

  /** Redeems `count` tickets at the card's cinema (a kind card: the kind's first cinema). */
  async redeem(
    tx: Executor,
    partner: Partner,
    cardNo: string,
    count: number,
    snap: RegistrySnapshot,
  ): Promise<WireObject> {
    const now = this.clock.now();
    const card = await this.lockOwnCard(tx, partner, cardNo);
    const cinemaId = card.cinema_id ?? snap.kindsById.get(card.kind_id ?? '')?.cinemaIds[0];
    if (cinemaId === undefined) {
      throw cardState(cardNo, effectiveStatus(card, now), 'redeem', ': its kind has no cinema');
    }
    const { card: after } = await redeemCard(tx, {
      card,
      count,
      cinemaId,
      userId: SANDBOX_USER,
      actor: this.actor(partner),
      now,
    });
    return this.present(after, now);
  }

  /** Undoes the card's latest redemption (within the 10 minutes any undo has). */
  async undo(tx: Executor, partner: Partner, cardNo: string): Promise<WireObject> {
    const now = this.clock.now();
    const card = await this.lockOwnCard(tx, partner, cardNo);
    const latest = await this.latestRedemption(tx, cardNo);
    if (!latest) {
      throw cardState(cardNo, effectiveStatus(card, now), 'undo a redemption', ' with no redemption to undo');
    }
    const restored = await undoRedemption(
      tx,
      { redemption: latest, userId: SANDBOX_USER, actor: this.actor(partner), now },
      (ms) => formatYmdHis(ms, this.timeZone),
    );
    return this.present(restored, now);
  }

  /**
   * Moves the card's deadline to now and expires it: an unpaid card its payment deadline, a paid
   * one its validity. An expired card stays as it is; a used or banned one cannot expire.
   */
  async expire(tx: Executor, partner: Partner, cardNo: string): Promise<WireObject> {
    const now = this.clock.now();
    const card = await this.lockOwnCard(tx, partner, cardNo);
    const status = effectiveStatus(card, now);
    let due: CardRow = card;
    if (status === 'inactive') due = { ...card, pay_deadline: now };
    else if (status === 'active') due = { ...card, valid_until: now };
    else if (status !== 'expired') throw cardState(cardNo, status, 'expire');
    if (due !== card) {
      await updateCard(tx, cardNo, { pay_deadline: due.pay_deadline, valid_until: due.valid_until });
    }
    if (due.status !== 'expired' && !(await expireCard(tx, due, now))) {
      throw await changedMeanwhile(tx, cardNo, now, 'expire');
    }
    return this.present((await findCard(tx, cardNo))!, now);
  }

  /** Sends the partner's callback URL a signed `test` event now and reports the answer. */
  async testEvent(partner: Partner): Promise<WireObject> {
    const d = await this.sendTest(partner.partnerId);
    const result = d.url === null ? 'no_callback_url' : d.error === null ? 'delivered' : 'failed';
    return {
      event: {
        event_id: d.eventId,
        event_type: 'test',
        url: d.url ?? '',
        result,
        http_status: d.httpStatus === null ? '' : String(d.httpStatus),
        error: d.url === null ? '' : (d.error ?? ''),
      },
    };
  }

  /** The card's latest redemption not undone, by the ledger's order (two can share a millisecond). */
  private async latestRedemption(tx: Executor, cardNo: string): Promise<RedemptionRow | undefined> {
    const undone = new Set<string>();
    for (const e of (await listCardEvents(tx, cardNo)).reverse()) {
      if (e.type !== 'redeemed' && e.type !== 'redemption_undone') continue;
      const id = String((JSON.parse(e.data) as { redemption_id?: unknown }).redemption_id ?? '');
      if (e.type === 'redemption_undone') undone.add(id);
      else if (!undone.has(id)) return findRedemption(tx, id);
    }
    return undefined;
  }

  private actor(partner: Partner): string {
    return `sandbox:${partner.partnerId}`;
  }

  private present(card: CardRow, now: number): WireObject {
    return { card: presentCardStatus(card, now, this.timeZone) };
  }

  /** Another partner's card is reported exactly like a card that does not exist. */
  private async lockOwnCard(tx: Executor, partner: Partner, cardNo: string): Promise<CardRow> {
    const card = (await lockCardRow(tx, cardNo)) ? await findCard(tx, cardNo) : undefined;
    if (!card || card.partner_id !== partner.partnerId) throw notFound('card', cardNo);
    return card;
  }
}
