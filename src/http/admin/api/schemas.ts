import { type TSchema, Type } from '@sinclair/typebox';

/** Wire shapes of the management API. Times are epoch ms, money integer fen (`*Fen`, `*_fen`). */

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const Int = Type.Integer();
const Str = Type.String();
const Ms = Type.Integer({ description: 'epoch milliseconds' });
const Fen = Type.Integer({ description: 'fen (1/100 yuan)' });

export const ErrorSchema = Type.Object(
  {
    error: Type.Object({
      code: Str,
      message: Str,
      field: Type.Optional(Str),
      details: Type.Optional(Type.Object({}, { additionalProperties: true })),
    }),
  },
  { description: 'An error; 5xx messages are generic.' },
);

export const RoleSchema = Type.Union([
  Type.Literal('admin'),
  Type.Literal('operator'),
  Type.Literal('cinema'),
]);

export const SessionUserSchema = Type.Object({
  userId: Str,
  username: Str,
  role: RoleSchema,
  cinemaId: Nullable(Str),
});

export const SessionInfoSchema = Type.Object({
  user: SessionUserSchema,
  csrfToken: Str,
  expiresAt: Ms,
});

// ---- users

export const UserSchema = Type.Object({
  userId: Str,
  username: Str,
  role: RoleSchema,
  cinemaId: Nullable(Str),
  status: Type.Union([Type.Literal('active'), Type.Literal('disabled')]),
  createdAt: Ms,
  lastLoginAt: Nullable(Ms),
});

// ---- partners

const SignMode = Type.Union([Type.Literal('basic'), Type.Literal('full')]);

export const PartnerSchema = Type.Object({
  partnerId: Str,
  name: Str,
  busId: Str,
  status: Type.Union([Type.Literal('active'), Type.Literal('suspended')]),
  permissions: Type.Array(Str),
  ipAllow: Type.Array(Str),
  rateLimit: Int,
  createdAt: Ms,
});

export const PartnerSummarySchema = Type.Composite([PartnerSchema, Type.Object({ activeKeys: Int })]);

export const KeySchema = Type.Object({
  secId: Str,
  signMode: SignMode,
  status: Type.Union([Type.Literal('active'), Type.Literal('revoked')]),
  createdAt: Ms,
  revokedAt: Nullable(Ms),
});

export const CreatedKeySchema = Type.Composite([
  KeySchema,
  Type.Object({ partnerId: Str, md5key: Type.String({ description: 'shown this once only' }) }),
]);

const TargetType = Type.Union([Type.Literal('cinema'), Type.Literal('kind')]);

export const PartnerPriceSchema = Type.Object({ targetType: TargetType, targetId: Str, priceFen: Fen });

export const PartnerDetailSchema = Type.Composite([
  PartnerSchema,
  Type.Object({
    keys: Nullable(Type.Array(KeySchema, { description: 'null for operators' })),
    prices: Type.Array(PartnerPriceSchema),
  }),
]);

// ---- catalog

export const CitySchema = Type.Object({ codeId: Str, name: Str, remark: Str, sort: Int });
export const RegionSchema = Type.Composite([CitySchema, Type.Object({ cityId: Str })]);
export const CinemaSchema = Type.Object({
  cinemaId: Str,
  name: Str,
  cityId: Str,
  regionId: Str,
  address: Str,
  tel: Str,
  priceFen: Fen,
  marketPriceFen: Fen,
  validDays: Int,
  active: Type.Boolean(),
});
export const KindSchema = Type.Object({
  kindId: Str,
  name: Str,
  priceFen: Fen,
  marketPriceFen: Fen,
  validDays: Int,
  remark: Str,
  active: Type.Boolean(),
  cinemaIds: Type.Array(Str),
});
export const CatalogSchema = Type.Object({
  cities: Type.Array(CitySchema),
  regions: Type.Array(RegionSchema),
  cinemas: Type.Array(CinemaSchema),
  kinds: Type.Array(KindSchema),
});
export const ImportReportSchema = Type.Object({
  dryRun: Type.Boolean(),
  applied: Type.Boolean(),
  rows: Int,
  created: Int,
  updated: Int,
  unchanged: Int,
  citiesCreated: Int,
  regionsCreated: Int,
  errors: Type.Array(Type.Object({ row: Int, column: Str, message: Str })),
});

// ---- cards

const CardStatus = Type.Union(
  ['inactive', 'active', 'used', 'expired', 'banned'].map((s) => Type.Literal(s)),
);

export const CardSchema = Type.Object({
  card_no: Str,
  partner_id: Str,
  cinema_id: Nullable(Str),
  kind_id: Nullable(Str),
  order_no: Nullable(Str),
  status: CardStatus,
  count: Int,
  used_count: Int,
  remaining: Int,
  price_fen: Fen,
  total_fen: Fen,
  mobile: Nullable(Str),
  created_at: Ms,
  pay_deadline: Ms,
  paid_at: Nullable(Ms),
  valid_until: Nullable(Ms),
  banned_at: Nullable(Ms),
  ban_reason: Nullable(Str),
  expired_at: Nullable(Ms),
  sms_status: Str,
  updated_at: Ms,
  target_name: Type.String({ description: "the cinema's name (a cinema card) or the kind's" }),
  frozen_at: Nullable(Ms),
  frozen_reason: Nullable(Str),
});

/** A card's wrong-password state. */
export const LockSchema = Type.Object({
  wrong_tries: Int,
  tries_left: Int,
  locked_until: Nullable(Ms),
});

export const SmsSchema = Type.Object({
  id: Str,
  card_no: Str,
  mobile: Str,
  reason: Str,
  status: Str,
  attempts: Int,
  last_error: Nullable(Str),
  created_at: Ms,
  next_attempt_at: Ms,
  sent_at: Nullable(Ms),
  provider: Nullable(Str),
  provider_code: Nullable(Str),
  delivery: Nullable(Str),
  delivery_code: Nullable(Str),
  delivered_at: Nullable(Ms),
  receipt_pending: Type.Boolean(),
});

export const pageOf = <T extends TSchema>(item: T) =>
  Type.Object({ items: Type.Array(item), total: Int, limit: Int, offset: Int });

export const CardDetailSchema = Type.Object({
  card: CardSchema,
  lock: LockSchema,
  events: Type.Array(
    Type.Object({
      seq: Int,
      type: Str,
      at: Ms,
      actor: Str,
      data: Type.Object({}, { additionalProperties: true }),
    }),
  ),
  sms: Type.Array(SmsSchema),
  redemptions: Type.Array(
    Type.Object({
      redemption_id: Str,
      cinema_id: Str,
      cinema_name: Str,
      count: Int,
      user_id: Str,
      username: Nullable(Str),
      at: Ms,
      undone_at: Nullable(Ms),
      undone_by: Nullable(Str),
    }),
  ),
  audit: Type.Array(
    Type.Object({ at: Ms, actor: Str, action: Str, before: Type.Unknown(), after: Type.Unknown() }),
  ),
});

// ---- reports

const figures = {
  issued: Int,
  issued_fen: Fen,
  activated: Int,
  activated_fen: Fen,
  voided: Int,
  voided_fen: Fen,
  banned_unpaid: Int,
  redeemed_tickets: Int,
  redeemed_fen: Fen,
};
const SmsFigures = Type.Object({
  sent: Int,
  failed: Int,
  queued: Int,
  delivery_rate: Nullable(Type.Number()),
  delivered: Int,
  undelivered: Int,
  received_rate: Nullable(Type.Number()),
});

export const DashboardSchema = Type.Object({
  from_day: Str,
  to_day: Str,
  time_zone: Str,
  rows: Type.Array(Type.Object({ day: Str, partner_id: Str, ...figures })),
  days: Type.Array(Type.Object({ day: Str, ...figures, sms: SmsFigures })),
  partners: Type.Array(Type.Object({ partner_id: Str, ...figures })),
  totals: Type.Object(figures),
  sms: SmsFigures,
});

// ---- audit

export const AuditPageSchema = Type.Object({
  entries: Type.Array(
    Type.Object({
      auditId: Str,
      at: Ms,
      actor: Str,
      action: Str,
      entityType: Str,
      entityId: Str,
      before: Type.Unknown(),
      after: Type.Unknown(),
    }),
  ),
  nextOffset: Nullable(Int),
});

// ---- redemption

export const CardCheckSchema = Type.Object({
  card_no: Str,
  cinema_id: Nullable(Str),
  kind_id: Nullable(Str),
  target_name: Str,
  status: CardStatus,
  count: Int,
  used_count: Int,
  remaining: Int,
  valid_until: Nullable(Ms),
  valid_here: Type.Boolean(),
  locked_until: Nullable(Ms),
  tries_left: Int,
  frozen: Type.Boolean(),
  redeemable: Type.Boolean(),
  reason: Nullable(Str),
});

export const RedeemResultSchema = Type.Object({
  redemption_id: Str,
  card_no: Str,
  cinema_id: Str,
  count: Int,
  used_count: Int,
  remaining: Int,
  status: CardStatus,
  at: Ms,
});

export const UndoResultSchema = Type.Object({
  redemption_id: Str,
  card_no: Str,
  count: Int,
  used_count: Int,
  remaining: Int,
  status: CardStatus,
  undone_at: Ms,
});

const DayTotalsSchema = Type.Object({ day: Str, tickets: Int, cards: Int, redemptions: Int, undone: Int });

export const HistorySchema = Type.Object({
  day: Str,
  redemptions: Type.Array(
    Type.Object({
      redemption_id: Str,
      card_no: Str,
      cinema_id: Str,
      count: Int,
      user_id: Str,
      username: Nullable(Str),
      at: Ms,
      undone_at: Nullable(Ms),
      undone_by: Nullable(Str),
      undoable: Type.Boolean(),
    }),
  ),
  totals: DayTotalsSchema,
});

export const DailyTotalsSchema = Type.Object({ cinemaId: Str, days: Type.Array(DayTotalsSchema) });
