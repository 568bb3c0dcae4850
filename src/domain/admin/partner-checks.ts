import { isIP } from 'node:net';
import { randomInt } from 'node:crypto';
import { recordAudit } from '../../db/audit.repository.js';
import { findPartner } from '../../db/partner-admin.repository.js';
import type { PartnerTable } from '../../db/schema.js';
import type { Executor } from '../../db/tx.js';
import { AppError, invalid, notFound } from '../../errors.js';
import type { Clock } from '../clock.js';
import { INTERFACE_NAMES } from '../interface-names.js';
import { checkEach, ID, integer, pattern, text, yuanToFen } from '../validate.js';
import type { Actor } from './audit.service.js';
import type { CreatePartnerInput, EditPartnerInput, PriceTarget } from './partner-views.js';

// The input checks of the partner commands, and what each command starts and ends with.

export const MAX_RATE_LIMIT = 100_000;

export function checkInterfaces(names: unknown): string[] {
  if (!Array.isArray(names)) throw invalid('permissions', 'must be a list of interface names');
  for (const n of names) {
    if (typeof n !== 'string' || !INTERFACE_NAMES.includes(n)) {
      const known = INTERFACE_NAMES.join(', ');
      throw new AppError('invalid', `unknown interface ${String(n)}; known: ${known}`, {
        field: 'permissions',
      });
    }
  }
  return names as string[];
}

export function checkIpAllow(ips: unknown): string[] {
  if (!Array.isArray(ips)) throw invalid('ip_allow', 'must be a list of IP addresses');
  const out: string[] = [];
  for (const raw of ips) {
    const ip = typeof raw === 'string' ? raw.trim() : '';
    // The partner API compares the caller's address exactly, so ranges would silently never match.
    if (!isIP(ip))
      throw invalid('ip_allow', `${String(raw)} is not an IPv4 or IPv6 address`, 'partner.ip', {
        value: String(raw),
      });
    if (!out.includes(ip)) out.push(ip);
  }
  if (out.length > 100) throw invalid('ip_allow', 'may hold at most 100 addresses');
  return out;
}

export const checkRateLimit = (v: unknown) => integer('rate_limit', v, 0, MAX_RATE_LIMIT);
export const checkName = (v: unknown) => text('name', v, 1, 100);
export const checkPartnerId = (v: unknown) =>
  pattern('partner_id', v, {
    re: /^[A-Z]{2}[0-9]{6}$/,
    rule: 'must be 2 upper-case letters and 6 digits, e.g. MT000001',
  });
export const checkSecId = (v: unknown) =>
  pattern('sec_id', v, {
    re: /^[A-Za-z0-9_]{1,32}$/,
    rule: 'must be 1-32 letters, digits or _',
    id: 'field.word',
  });

export function checkTarget(t: PriceTarget): PriceTarget {
  if (t?.type !== 'cinema' && t?.type !== 'kind')
    throw invalid('target', 'must be a cinema or a kind', 'price.target');
  return {
    type: t.type,
    id: pattern(`${t.type}_id`, t.id, ID),
  };
}

export const DEFAULT_PARTNER_PREFIX = 'MT';

/*
 * Every rule a form's input breaks, in the order the service has always checked them (it refuses
 * with the first; the console names them all at once beside their fields).
 */

export const checkNewPartner = (input: CreatePartnerInput) =>
  checkEach({
    name: () => checkName(input.name),
    prefix: () =>
      pattern('prefix', input.prefix ?? DEFAULT_PARTNER_PREFIX, {
        re: /^[A-Z]{2}$/,
        rule: 'must be two upper-case letters',
        id: 'partner.prefix',
      }),
    permissions: () =>
      input.permissions === undefined ? INTERFACE_NAMES : checkInterfaces(input.permissions),
    ipAllow: () => checkIpAllow(input.ipAllow ?? []),
    rateLimit: () => checkRateLimit(input.rateLimit ?? 0),
  });

/** The changes of a partner: only those given. */
export const checkPartnerEdit = (input: EditPartnerInput) =>
  checkEach({
    name: () => (input.name === undefined ? undefined : checkName(input.name)),
    ip_allow: () => (input.ipAllow === undefined ? undefined : checkIpAllow(input.ipAllow).join(',')),
    rate_limit: () => (input.rateLimit === undefined ? undefined : checkRateLimit(input.rateLimit)),
  });

/** A partner's own price for a cinema or kind, from yuan ("35.00"). */
export const checkPartnerPrice = (target: PriceTarget, price: string) =>
  checkEach({
    target: () => checkTarget(target),
    priceFen: () => yuanToFen('price', price),
  });

/** Two operators creating rows at once may pick the same next name; the loser retries. */
export const UNIQUE_ATTEMPTS = 10;
export const jitter = () => new Promise((resolve) => setTimeout(resolve, randomInt(1, 20)));

export async function requirePartner(tx: Executor, partnerId: string): Promise<PartnerTable> {
  const p = await findPartner(tx, checkPartnerId(partnerId));
  if (!p) throw notFound('partner', partnerId);
  return p;
}

/** Audits a change in its transaction (the registry_version triggers tell every server). */
export async function recordPartnerChange(
  tx: Executor,
  clock: Clock,
  by: Actor,
  action: string,
  partnerId: string,
  before: unknown,
  after: unknown,
): Promise<void> {
  await recordAudit(tx, {
    at: clock.now(),
    actor: by.actor,
    action,
    entityType: 'partner',
    entityId: partnerId,
    before,
    after,
  });
}
