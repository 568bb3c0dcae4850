/**
 * A channel's view of the platform: walks both purchase flows of the partner API with
 * the SDK and prints each step. Run `npm start` first, then:
 *
 *   MOVTICKET_MD5KEY=<key printed by npm start> npm run demo:channel
 */
import { MovTicketClient, MovTicketError } from '../src/client/index.js';
import type { CardStatus } from '../src/client/index.js';

const env = process.env;
const md5key = env.MOVTICKET_MD5KEY;
if (!md5key) {
  console.error(
    'MOVTICKET_MD5KEY is not set.\n' +
      'Start the platform with `npm start`, copy the md5key it prints for the demo partner CS000001, then run:\n' +
      '  MOVTICKET_MD5KEY=<that key> npm run demo:channel',
  );
  process.exit(1);
}

const baseUrl = env.MOVTICKET_URL ?? 'http://127.0.0.1:8080';
const mobile = env.MOVTICKET_MOBILE ?? '13800138000';
const client = new MovTicketClient({
  baseUrl,
  partnerId: env.MOVTICKET_PARTNER_ID ?? 'CS000001',
  secId: env.MOVTICKET_SEC_ID ?? 'test',
  busId: env.MOVTICKET_BUS_ID ?? '1002758',
  md5key,
});

let stepNo = 0;
function step(title: string): void {
  console.log(`\n${++stepNo}. ${title}`);
}
function show(label: string, value: string): void {
  console.log(`   ${label.padEnd(14)} ${value}`);
}
function first<T>(list: T[], what: string): T {
  const item = list[0];
  if (item === undefined) throw new Error(`the platform returned no ${what}; is the demo catalog loaded?`);
  return item;
}
function showStatus(card: CardStatus): void {
  show('card_no', card.card_no);
  show('status', `${card.status} (${card.used_count}/${card.count} used, ${card.remaining} left)`);
  show('mobile', card.mobile || '-');
  show('sms_status', card.sms_status);
  show('valid_until', card.valid_until || '-');
  if (card.banned_at) show('banned_at', card.banned_at);
}

async function byCinema(): Promise<void> {
  console.log('=== Flow A: buy by cinema (cities → regions → cinemas → buy → pay → status) ===');

  step('cities');
  const { cities } = await client.cities();
  for (const c of cities) show(c.code_id, `${c.code_name} (${c.remark})`);
  const city = first(cities, 'cities');

  step(`regionsByCity ${city.code_id} ${city.code_name}`);
  const { regions } = await client.regionsByCity({ cityId: city.code_id });
  for (const r of regions) show(r.code_id, r.code_name);
  const region = first(regions, 'regions');

  step(`cinemasByRegion ${region.code_id} ${region.code_name}`);
  const { cinemas } = await client.cinemasByRegion({ regionId: region.code_id });
  for (const c of cinemas) show(c.cinema_id, `${c.cinema_name}  ¥${c.price} (market ¥${c.market_price})`);
  const cinema = first(cinemas, 'cinemas');

  step(`buyByCinema ${cinema.cinema_id} ${cinema.cinema_name}, 2 tickets`);
  const { card } = await client.buyByCinema({
    cinemaId: cinema.cinema_id,
    count: 2,
    orderNo: `demoA${Date.now()}`,
  });
  show('card_no', card.card_no);
  show('total_price', `¥${card.total_price} (${card.count} × ¥${card.price})`);
  show('status', card.status);
  show('pay_deadline', card.pay_deadline);

  step(`payByCard ${card.card_no} → SMS to ${mobile}`);
  const paid = await client.payByCard({ cardNo: card.card_no, mobile, totalPrice: card.total_price });
  show('status', paid.card.status);
  show('password', paid.card.password);
  show('valid_until', paid.card.valid_until);
  show('sms_status', paid.card.sms_status);

  step(`status ${card.card_no}`);
  showStatus((await client.status({ cardNo: card.card_no })).card);
}

async function byKind(): Promise<void> {
  console.log('\n=== Flow B: buy by card kind (kinds → cinemas → buy → pay → status → ban) ===');

  step('kinds');
  const { kinds } = await client.kinds();
  for (const k of kinds) show(k.kind_id, `${k.kind_name}  ¥${k.price}, valid ${k.valid_days} days`);
  const kind = first(kinds, 'kinds');

  step(`cinemasByKind ${kind.kind_id} ${kind.kind_name}`);
  const { cinemas } = await client.cinemasByKind({ kindId: kind.kind_id });
  for (const c of cinemas) show(c.cinema_id, `${c.cinema_name} (city ${c.city_id})`);

  step(`buyByKind ${kind.kind_id}, 1 ticket`);
  const { card } = await client.buyByKind({ kindId: kind.kind_id, count: 1 });
  show('card_no', card.card_no);
  show('total_price', `¥${card.total_price}`);
  show('status', card.status);

  step(`payByCard ${card.card_no} → SMS to ${mobile}`);
  const paid = await client.payByCard({ cardNo: card.card_no, mobile, totalPrice: card.total_price });
  show('status', paid.card.status);
  show('password', paid.card.password);
  show('sms_status', paid.card.sms_status);

  step(`status ${card.card_no}`);
  showStatus((await client.status({ cardNo: card.card_no })).card);

  step(`buyByKind ${kind.kind_id} again, left unpaid`);
  const unpaid = (await client.buyByKind({ kindId: kind.kind_id, count: 1 })).card;
  show('card_no', unpaid.card_no);
  show('status', unpaid.status);

  step(`ban ${unpaid.card_no}`);
  showStatus((await client.ban({ cardNo: unpaid.card_no, reason: 'demo: order cancelled' })).card);
}

async function lostBuy(): Promise<void> {
  console.log('\n=== A purchase whose answer was lost, found again by its order_no ===');
  const { kinds } = await client.kinds();
  const kind = first(kinds, 'kinds');
  const orderNo = `demoL${Date.now()}`;

  step(`buyByKind ${kind.kind_id} with order_no ${orderNo}; suppose the answer never arrives`);
  await client.buyByKind({ kindId: kind.kind_id, count: 1, orderNo });

  step(`status by order_no ${orderNo}`);
  try {
    showStatus((await client.status({ orderNo })).card);
  } catch (err) {
    // A server without order_no in `status` does not know the parameter (and, in `full` mode,
    // does not sign it).
    if (err instanceof MovTicketError && (err.type === 'invalid_param' || err.type === 'invalid_signature')) {
      show('order_no', 'recovery not supported by this server');
      return;
    }
    throw err;
  }
}

try {
  console.log(`Partner API at ${baseUrl}\n`);
  await byCinema();
  await byKind();
  await lostBuy();
  console.log('\nBoth flows completed.');
} catch (err) {
  if (err instanceof MovTicketError) {
    console.error(`\nFailed: ${err.method} → ${err.code} ${err.type}: ${err.message} (req_id ${err.reqId})`);
    if (err.type === 'network_error' || err.type === 'client_timeout') {
      console.error(`Is the platform running at ${baseUrl}? Start it with \`npm start\`.`);
    }
    if (err.type === 'invalid_signature' || err.type === 'unknown_partner') {
      console.error('Check MOVTICKET_MD5KEY / MOVTICKET_SEC_ID against what `npm start` printed.');
    }
  } else {
    console.error(`\nFailed: ${err instanceof Error ? err.message : String(err)}`);
  }
  process.exit(1);
}
