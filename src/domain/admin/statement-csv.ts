import { formatDateTime } from '../dates.js';
import { formatYuan } from '../money.js';
import type { Settlement, Statement, StatementTotals } from './report.service.js';

/**
 * Statements and settlements as CSV downloads: UTF-8 with a BOM (so Excel reads Chinese), CRLF
 * line ends, amounts in yuan with two decimals (summed in fen). `zh` (the default) is for people:
 * Chinese headers and type names, and card numbers written as `="6212…"` so that a spreadsheet
 * keeps them as text — read as a number, a 16-digit card number keeps only 15 significant digits.
 * `en` is for machines: the English column names below and plain values.
 */
export type CsvLang = 'zh' | 'en';

export const CSV_LANGS: readonly CsvLang[] = ['zh', 'en'];

const HEADERS = {
  lines: {
    en: [
      'type',
      'time',
      'card_no',
      'order_no',
      'target_type',
      'target_id',
      'target_name',
      'count',
      'unit_price',
      'amount',
      'partner_id',
    ],
    zh: [
      '类型',
      '时间',
      '卡号',
      '订单号',
      '对象类型',
      '对象编号',
      '对象名称',
      '张数',
      '单价',
      '金额',
      '渠道编号',
    ],
  },
  totals: {
    en: ['activations', 'activation_amount', 'voids', 'void_amount', 'net_amount'],
    zh: ['激活卡数', '激活金额', '冲销卡数', '冲销金额', '净额'],
  },
  day: { en: ['day'], zh: ['日期'] },
  partner: { en: ['partner_id', 'partner_name'], zh: ['渠道编号', '渠道名称'] },
  settlement: {
    en: ['kind_id', 'kind_name', 'tickets', 'redemptions', 'amount'],
    zh: ['券种编号', '券种名称', '张数', '兑换笔数', '金额'],
  },
  settlementTotals: { en: ['tickets', 'redemptions', 'amount'], zh: ['张数', '兑换笔数', '金额'] },
} as const;

export const STATEMENT_COLUMNS = HEADERS.lines;

const TYPE_NAME = {
  en: { activation: 'activation', void: 'void', cinema: 'cinema', kind: 'kind' },
  zh: { activation: '激活', void: '冲销', cinema: '影院', kind: '券种' },
} as const;

/** The name of a settlement row without a kind: a card sold for the cinema itself. */
export const CINEMA_CARD = { en: 'cinema card', zh: '本影院卡' } as const;

/** A statement: its lines, then after empty lines the totals per day, per partner and overall. */
export function statementCsv(st: Statement, lang: CsvLang = 'zh'): string {
  const names = TYPE_NAME[lang];
  const out: string[] = [row(HEADERS.lines[lang])];
  for (const l of st.lines) {
    out.push(
      row([
        names[l.type],
        formatDateTime(l.at, st.time_zone),
        digits(l.card_no, lang),
        lang === 'zh' && /^[0-9]+$/.test(l.order_no ?? '')
          ? digits(l.order_no!, lang)
          : text(l.order_no ?? ''),
        names[l.target_type],
        l.target_id,
        text(l.target_name),
        String(l.count),
        formatYuan(l.unit_price_fen),
        formatYuan(l.amount_fen),
        l.partner_id,
      ]),
    );
  }
  out.push('', row([...HEADERS.day[lang], ...HEADERS.totals[lang]]));
  for (const d of st.days) out.push(row([d.day, ...totals(d)]));
  out.push('', row([...HEADERS.partner[lang], ...HEADERS.totals[lang]]));
  for (const p of st.partners) out.push(row([p.partner_id, text(p.partner_name), ...totals(p)]));
  out.push('', row(HEADERS.totals[lang]), row(totals(st)));
  return `\uFEFF${out.join('\r\n')}\r\n`;
}

/** A settlement: a row per day and kind, then the totals per day, per kind and overall. */
export function settlementCsv(s: Settlement, lang: CsvLang = 'zh'): string {
  const kindName = (id: string | null, name: string | null) =>
    id === null ? CINEMA_CARD[lang] : text(name ?? '');
  const figures = (f: { tickets: number; redemptions: number; amount_fen: number }) => [
    String(f.tickets),
    String(f.redemptions),
    formatYuan(f.amount_fen),
  ];
  const out: string[] = [row([...HEADERS.day[lang], ...HEADERS.settlement[lang]])];
  for (const r of s.rows)
    out.push(row([r.day, r.kind_id ?? '', kindName(r.kind_id, r.kind_name), ...figures(r)]));
  out.push('', row([...HEADERS.day[lang], ...HEADERS.settlementTotals[lang]]));
  for (const d of s.days) out.push(row([d.day, ...figures(d)]));
  out.push('', row(HEADERS.settlement[lang]));
  for (const k of s.kinds) out.push(row([k.kind_id ?? '', kindName(k.kind_id, k.kind_name), ...figures(k)]));
  out.push('', row(HEADERS.settlementTotals[lang]), row(figures(s)));
  return `\uFEFF${out.join('\r\n')}\r\n`;
}

function totals(t: StatementTotals): string[] {
  return [
    String(t.activations),
    formatYuan(t.activation_fen),
    String(t.voids),
    formatYuan(t.void_fen),
    formatYuan(t.net_fen),
  ];
}

/**
 * A number that is an identifier (card number, numeric order number): for people, a text
 * formula, so a spreadsheet neither rounds it to 15 digits nor drops its leading zeros.
 */
function digits(value: string, lang: CsvLang): string {
  return lang === 'zh' ? `="${value}"` : value;
}

/** Free text that a spreadsheet would run as a formula gets a leading apostrophe. */
export function text(value: string): string {
  return /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
}

/** One CSV line: a cell with a quote, comma or line break is quoted. */
export function row(cells: readonly string[]): string {
  return cells.map((c) => (/[",\r\n]/.test(c) ? `"${c.replace(/"/g, '""')}"` : c)).join(',');
}
