import type { SecurityConfigInfo } from '../../db/partner-admin.repository.js';
import type { PartnerPriceTable, PartnerTable, SecurityConfigTable } from '../../db/schema.js';
import { INTERFACE_NAMES } from '../interface-names.js';

// What the partner commands return, and how a row becomes one.

export type SignMode = SecurityConfigTable['sign_mode'];
export type PriceTargetType = PartnerPriceTable['target_type'];

export interface PriceTarget {
  type: PriceTargetType;
  id: string;
}

export interface PartnerView {
  partnerId: string;
  name: string;
  busId: string;
  status: PartnerTable['status'];
  /** Granted interfaces, in the contract's order. */
  permissions: string[];
  /** Allowed caller addresses; empty means any. */
  ipAllow: string[];
  /** Requests per second; 0 means no limit. */
  rateLimit: number;
  createdAt: number;
}

export interface PartnerSummary extends PartnerView {
  activeKeys: number;
}

export interface KeyView {
  secId: string;
  signMode: SignMode;
  status: SecurityConfigTable['status'];
  createdAt: number;
  revokedAt: number | null;
}

/** A new key: the only time its md5key is ever returned. */
export interface CreatedKey extends KeyView {
  partnerId: string;
  md5key: string;
}

export interface PartnerPriceView {
  targetType: PriceTargetType;
  targetId: string;
  priceFen: number;
}

export interface PartnerDetail extends PartnerView {
  /** Null for operators, who may not see keys. */
  keys: KeyView[] | null;
  prices: PartnerPriceView[];
}

export interface CreatePartnerInput {
  name: string;
  /** Two upper-case letters the partner_id starts with; default `MT`. */
  prefix?: string;
  /** Interfaces to grant; default all. */
  permissions?: string[];
  ipAllow?: string[];
  rateLimit?: number;
}

export interface EditPartnerInput {
  name?: string;
  ipAllow?: string[];
  rateLimit?: number;
}

export interface CreateKeyInput {
  /** `^[A-Za-z0-9_]{1,32}$`; default the first free `k1`, `k2`, … */
  secId?: string;
  /** Default `full`. */
  signMode?: SignMode;
}

const splitList = (s: string) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

export function grantedOf(p: PartnerTable): Set<string> {
  const names = splitList(p.permissions);
  return new Set(names.includes('*') ? INTERFACE_NAMES : names);
}

export function presentPartner(p: PartnerTable): PartnerView {
  const granted = grantedOf(p);
  return {
    partnerId: p.partner_id,
    name: p.name,
    busId: p.bus_id,
    status: p.status,
    permissions: INTERFACE_NAMES.filter((n) => granted.has(n)),
    ipAllow: splitList(p.ip_allow),
    rateLimit: p.rate_limit,
    createdAt: p.created_at,
  };
}

export function presentKey(k: SecurityConfigInfo): KeyView {
  return {
    secId: k.sec_id,
    signMode: k.sign_mode,
    status: k.status,
    createdAt: k.created_at,
    revokedAt: k.revoked_at,
  };
}

export const presentPrice = (p: PartnerPriceTable): PartnerPriceView => ({
  targetType: p.target_type,
  targetId: p.target_id,
  priceFen: p.price_fen,
});
