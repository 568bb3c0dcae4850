import { INTERFACE_NAMES } from '../../domain/interface-names.js';

/** The contract's interfaces and their own parameters, in signing order. */

export interface ParamRule {
  name: string;
  optional?: boolean;
  /**
   * An optional parameter sent empty is normally taken as not sent; this one is refused
   * instead, because leaving it out changes what the request does.
   */
  emptyRefused?: boolean;
  pattern: RegExp;
  rule: string;
}

export interface InterfaceDef {
  name: string;
  /** Mutations claim their req_id in the transaction of their effect. */
  mutates: boolean;
  /** Its answer carries a card password, so the copy kept for retries is sealed at rest. */
  answerHoldsSecret?: boolean;
  params: readonly ParamRule[];
  /** Optional parameters of which exactly one must be given. */
  oneOf?: readonly string[];
  /** Served only by a sandbox server, to every partner (no permission needed). */
  sandbox?: boolean;
}

const ID = { pattern: /^[A-Za-z0-9_-]{1,32}$/, rule: 'must be 1-32 letters, digits, _ or -' };
const cityId: ParamRule = { name: 'city_id', pattern: /^[0-9]{3}$/, rule: 'must be a 3-digit city code_id' };
const count: ParamRule = {
  name: 'count',
  pattern: /^([1-9]|[1-4][0-9]|50)$/,
  rule: 'must be an integer from 1 to 50',
};
const orderNo: ParamRule = {
  name: 'order_no',
  optional: true,
  pattern: /^[A-Za-z0-9_-]{1,32}$/,
  rule: 'must be 1-32 letters, digits, _ or -',
};
const cardNo: ParamRule = { name: 'card_no', pattern: /^[0-9]{16}$/, rule: 'must be 16 digits' };
const mobile: ParamRule = {
  name: 'mobile',
  pattern: /^1[3-9][0-9]{9}$/,
  rule: 'must be an 11-digit mainland mobile number',
};

export const INTERFACES: ReadonlyMap<string, InterfaceDef> = new Map(
  (
    [
      { name: 'cities', mutates: false, params: [] },
      { name: 'regionsByCity', mutates: false, params: [cityId] },
      { name: 'cinemasByRegion', mutates: false, params: [{ name: 'region_id', ...ID }] },
      { name: 'buyByCinema', mutates: true, params: [{ name: 'cinema_id', ...ID }, count, orderNo] },
      { name: 'kinds', mutates: false, params: [] },
      {
        name: 'cinemasByKind',
        mutates: false,
        params: [
          { name: 'kind_id', ...ID },
          { ...cityId, optional: true },
        ],
      },
      { name: 'buyByKind', mutates: true, params: [{ name: 'kind_id', ...ID }, count, orderNo] },
      {
        name: 'payByCard',
        mutates: true,
        answerHoldsSecret: true,
        params: [
          cardNo,
          mobile,
          {
            name: 'total_price',
            optional: true,
            // Empty must not quietly switch the amount check off.
            emptyRefused: true,
            pattern: /^(0|[1-9][0-9]{0,8})(\.[0-9]{1,2})?$/,
            rule: 'must be an amount in yuan such as 35.00',
          },
        ],
      },
      {
        name: 'status',
        mutates: false,
        params: [{ ...cardNo, optional: true }, orderNo],
        oneOf: ['card_no', 'order_no'],
      },
      {
        name: 'ban',
        mutates: true,
        params: [
          cardNo,
          {
            name: 'reason',
            optional: true,
            // Printable text only: no control characters.
            pattern: /^[^\p{Cc}\p{Cs}\uFFFE\uFFFF]{1,100}$/u,
            rule: 'must be 1-100 printable characters',
          },
        ],
      },
      { name: 'resendSms', mutates: true, params: [cardNo, { ...mobile, optional: true }] },
    ] satisfies InterfaceDef[]
  ).map((d) => [d.name, d]),
);

export { INTERFACE_NAMES };

/** The sandbox's interfaces: a channel drives its own cards; answered 404 outside a sandbox. */
export const SANDBOX_INTERFACES: ReadonlyMap<string, InterfaceDef> = new Map(
  (
    [
      {
        name: 'sandboxRedeem',
        mutates: true,
        sandbox: true,
        params: [cardNo, { ...count, optional: true }],
      },
      { name: 'sandboxUndo', mutates: true, sandbox: true, params: [cardNo] },
      { name: 'sandboxExpire', mutates: true, sandbox: true, params: [cardNo] },
      { name: 'sandboxTestEvent', mutates: false, sandbox: true, params: [] },
    ] satisfies InterfaceDef[]
  ).map((d) => [d.name, d]),
);

// The grantable names (domain) and the interfaces served here must be the same list.
if (INTERFACE_NAMES.join() !== [...INTERFACES.keys()].join()) {
  throw new Error('INTERFACE_NAMES and INTERFACES disagree');
}

export const COMMON_RULES: readonly ParamRule[] = [
  {
    name: 'partner_id',
    pattern: /^[A-Z]{2}[0-9]{6}$/,
    rule: 'must be 2 upper-case letters and 6 digits, e.g. CS000001',
  },
  { name: 'sec_id', pattern: /^[A-Za-z0-9_]{1,32}$/, rule: 'must be 1-32 letters, digits or _' },
  { name: 'bus_id', pattern: /^[0-9]{1,7}$/, rule: 'must be 1-7 digits' },
  { name: 'req_id', pattern: /^[A-Za-z0-9]{1,20}$/, rule: 'must be 1-20 letters or digits' },
  { name: 'ver', pattern: /^[0-9]{4}$/, rule: 'must be 4 digits, e.g. 1000' },
  { name: 'timestamp', pattern: /^[0-9]{14}([0-9]{2})?$/, rule: 'must be YmdHis (14 digits) or 16 digits' },
  { name: 'hashcode', pattern: /^[0-9A-Fa-f]{32}$/, rule: 'must be 32 hex digits' },
];

export const SUPPORTED_VERSIONS = new Set(['1000']);
