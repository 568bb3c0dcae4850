/** The partner API's interfaces, in the contract's order: what a partner can be granted. */
export const INTERFACE_NAMES: string[] = [
  'cities',
  'regionsByCity',
  'cinemasByRegion',
  'buyByCinema',
  'kinds',
  'cinemasByKind',
  'buyByKind',
  'payByCard',
  'status',
  'ban',
  'resendSms',
];
