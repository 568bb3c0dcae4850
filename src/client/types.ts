// Wire shapes of `data`, contract section 5. Every value is a string as sent (money
// like "35.00", dates as YmdHis, counts as decimal text). More keys may appear later.

/** A city (`movTicket/cities`). */
export interface City {
  /** Three digits, e.g. `"001"`. */
  code_id: string;
  /** Always `"0"`. */
  parent_id: string;
  code_name: string;
  /** Pinyin abbreviation, e.g. `"bj"`. */
  remark: string;
}

/** A district of a city (`movTicket/regionsByCity`). */
export interface Region {
  code_id: string;
  /** The city's `code_id`. */
  parent_id: string;
  code_name: string;
  remark: string;
}

/** A cinema with this partner's prices (`movTicket/cinemasByRegion`). */
export interface Cinema {
  cinema_id: string;
  cinema_name: string;
  city_id: string;
  region_id: string;
  address: string;
  tel: string;
  /** This partner's settlement price per ticket, e.g. `"35.00"`. */
  price: string;
  /** Face price per ticket. */
  market_price: string;
}

/** A cinema accepting a card kind (`movTicket/cinemasByKind`): a {@link Cinema} without prices. */
export type KindCinema = Omit<Cinema, 'price' | 'market_price'>;

/** A card kind, i.e. a voucher type (`movTicket/kinds`). */
export interface Kind {
  kind_id: string;
  kind_name: string;
  /** This partner's settlement price per ticket. */
  price: string;
  market_price: string;
  /** Validity after payment, in days. */
  valid_days: string;
  remark: string;
}

/** A card's lifecycle state. */
export type CardState = 'inactive' | 'active' | 'used' | 'expired' | 'banned';

/** Delivery state of the card's SMS. */
export type SmsStatus = 'none' | 'queued' | 'sent' | 'failed';

/** A freshly bought, unpaid card (`buyByCinema`, `buyByKind`). */
export interface Card {
  /** 16 digits; keep it a string. */
  card_no: string;
  /** Set for `buyByCinema`, empty for `buyByKind`. */
  cinema_id: string;
  /** Set for `buyByKind`, empty for `buyByCinema`. */
  kind_id: string;
  count: string;
  price: string;
  /** `price` × `count`; pass it to `payByCard` to guard against a price change. */
  total_price: string;
  status: CardState;
  created_at: string;
  /** After this the card can no longer be paid. */
  pay_deadline: string;
}

/** A card just activated by `payByCard`. */
export interface PaidCard {
  card_no: string;
  status: CardState;
  count: string;
  total_price: string;
  /** 8 digits; shown only here, never by `status`. */
  password: string;
  paid_at: string;
  valid_until: string;
  sms_status: SmsStatus;
}

/** A card's full state (`status`, `ban`, `resendSms`). Absent values are empty strings. */
export interface CardStatus {
  card_no: string;
  cinema_id: string;
  kind_id: string;
  order_no: string;
  status: CardState;
  count: string;
  used_count: string;
  remaining: string;
  price: string;
  total_price: string;
  /** Masked, e.g. `"138****5678"`; empty before payment. */
  mobile: string;
  created_at: string;
  pay_deadline: string;
  paid_at: string;
  valid_until: string;
  banned_at: string;
  sms_status: SmsStatus;
}

/** `data` of `movTicket/cities`. */
export interface CitiesData {
  cities: City[];
}
/** `data` of `movTicket/regionsByCity`. */
export interface RegionsData {
  regions: Region[];
}
/** `data` of `movTicket/cinemasByRegion`. */
export interface CinemasData {
  cinemas: Cinema[];
}
/** `data` of `movTicket/kinds`. */
export interface KindsData {
  kinds: Kind[];
}
/** `data` of `movTicket/cinemasByKind`. */
export interface KindCinemasData {
  cinemas: KindCinema[];
}
/** `data` of `movTicket/buyByCinema` and `movTicket/buyByKind`. */
export interface CardData {
  card: Card;
}
/** `data` of `movTicket/payByCard`. */
export interface PaidCardData {
  card: PaidCard;
}
/** `data` of `movTicket/status`, `movTicket/ban` and `movTicket/resendSms`. */
export interface CardStatusData {
  card: CardStatus;
}
