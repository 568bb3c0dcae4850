import type { AdminCardView } from '../../../domain/admin/card-admin.service.js';
import { formatYuan } from '../../../domain/money.js';
import { row, text } from '../../../domain/admin/statement-csv.js';
import { CARD_STATUS_LABEL, label, maskMobile } from './format.js';

/*
 * A card search as CSV for a spreadsheet: UTF-8 with a byte-order mark (so Excel reads the
 * Chinese), Chinese headers, CRLF lines. Numbers that must stay exact (card numbers, 16 digits,
 * lose their last digit as Excel numbers; order numbers may lose leading zeros) are written as
 * the formula ="…", which Excel, WPS and LibreOffice show as that text. Free text a spreadsheet
 * would run as a formula gets a leading apostrophe.
 */

const HEADERS = [
  '卡号',
  '渠道',
  '渠道订单号',
  '兑换对象类型',
  '兑换对象',
  '状态',
  '冻结',
  '张数',
  '已兑换',
  '剩余',
  '单价（元）',
  '总价（元）',
  '手机（掩码）',
  '创建时间',
  '支付时间',
  '有效期至',
];

/** Text a spreadsheet keeps exactly as written. */
const exact = (digits: string) => (digits === '' ? '' : `="${digits.replace(/"/g, '')}"`);

export function cardsCsv(items: readonly AdminCardView[], time: (ms: number | null) => string): string {
  const rows = items.map((x) =>
    row([
      exact(x.card_no),
      x.partner_id,
      exact(x.order_no ?? ''),
      x.cinema_id ? '影院' : '券种',
      text(`${x.target_name}（${x.cinema_id ?? x.kind_id ?? ''}）`),
      label(CARD_STATUS_LABEL, x.status),
      x.frozen_at === null ? '' : '已冻结',
      String(x.count),
      String(x.used_count),
      String(x.remaining),
      formatYuan(x.price_fen),
      formatYuan(x.total_fen),
      maskMobile(x.mobile),
      time(x.created_at),
      time(x.paid_at),
      time(x.valid_until),
    ]),
  );
  return `\uFEFF${[row(HEADERS), ...rows].join('\r\n')}\r\n`;
}
