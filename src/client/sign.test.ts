import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  computeHashcode,
  formatTimestamp,
  orderParams,
  randomReqId,
  signingString,
  type SignField,
} from './sign.js';

const KEY = 'e10adc3949ba59abbe56e057f20f883e';
const md5 = (s: string): string => createHash('md5').update(s, 'utf8').digest('hex');
const names = (fields: SignField[]): string[] => fields.map((f) => f.name);

const common = (reqId: string) => ({
  partner_id: 'CS000001',
  sec_id: 'test',
  bus_id: '1002758',
  req_id: reqId,
  ver: '1000',
  timestamp: '20121225020202',
});

describe('computeHashcode', () => {
  it('reproduces the contract basic-mode vector', () => {
    const { signed } = orderParams('cities', common('2012010100000001'), {});
    expect(signingString('basic', signed, KEY)).toBe(
      'CS0000011002758201201010000000120121225020202e10adc3949ba59abbe56e057f20f883e',
    );
    expect(computeHashcode('basic', signed, KEY)).toBe('c2ea37696f3f4b09f911a8c6dab43264');
  });

  it('reproduces the contract full-mode payByCard vector (no total_price)', () => {
    const { signed } = orderParams('payByCard', common('2012010100000002'), {
      mobile: '13812345678',
      card_no: '6281234567890123',
    });
    expect(signingString('full', signed, KEY)).toBe(
      'CS000001test10027582012010100000002100020121225020202628123456789012313812345678e10adc3949ba59abbe56e057f20f883e',
    );
    expect(computeHashcode('full', signed, KEY)).toBe('7a27021fdd92e04520656f58003e4748');
  });

  it('accepts an insertion-ordered record as well as a field list', () => {
    const record = {
      partner_id: 'CS000001',
      bus_id: '1002758',
      req_id: '2012010100000001',
      timestamp: '20121225020202',
    };
    expect(computeHashcode('basic', record, KEY)).toBe('c2ea37696f3f4b09f911a8c6dab43264');
  });

  it('basic mode ignores business parameters; full mode protects them', () => {
    const a = orderParams('payByCard', common('R1'), { card_no: '6281234567890123', mobile: '13812345678' });
    const b = orderParams('payByCard', common('R1'), { card_no: '6281234567890123', mobile: '13900000000' });
    expect(computeHashcode('basic', a.signed, KEY)).toBe(computeHashcode('basic', b.signed, KEY));
    expect(computeHashcode('full', a.signed, KEY)).not.toBe(computeHashcode('full', b.signed, KEY));
  });

  it('never signs format or hashcode in full mode', () => {
    const fields = [
      { name: 'partner_id', value: 'CS000001' },
      { name: 'format', value: 'xml' },
      { name: 'hashcode', value: 'ff' },
    ];
    expect(signingString('full', fields, 'K')).toBe('CS000001K');
  });

  it('refuses a basic signature without the fields it needs', () => {
    expect(() => computeHashcode('basic', { partner_id: 'CS000001' }, KEY)).toThrow(/bus_id/);
  });
});

describe('orderParams', () => {
  it('puts common params first, then the table order, whatever the caller order', () => {
    const { signed, unsigned } = orderParams('buyByCinema', common('R1'), {
      order_no: 'o-1',
      count: '2',
      cinema_id: '10001',
    });
    expect(names(signed)).toEqual([
      'partner_id',
      'sec_id',
      'bus_id',
      'req_id',
      'ver',
      'timestamp',
      'cinema_id',
      'count',
      'order_no',
    ]);
    expect(unsigned).toEqual([]);
  });

  it('skips absent optional params and keeps unknown extras out of the signature', () => {
    const { signed, unsigned } = orderParams('cinemasByKind', common('R1'), {
      city_id: undefined,
      kind_id: 'K1',
      extra: 'x',
    });
    expect(names(signed).slice(6)).toEqual(['kind_id']);
    expect(unsigned).toEqual([{ name: 'extra', value: 'x' }]);
  });

  it('refuses a caller-supplied common parameter', () => {
    expect(() => orderParams('cities', common('R1'), { req_id: 'X' })).toThrow(/req_id/);
    expect(() => orderParams('cities', common('R1'), { hashcode: 'X' })).toThrow(/hashcode/);
  });

  it('signs md5 of exactly the ordered values', () => {
    const { signed } = orderParams('ban', common('R9'), { reason: 'lost', card_no: '6281234567890123' });
    expect(computeHashcode('full', signed, 'k')).toBe(
      md5('CS000001test1002758R9100020121225020202' + '6281234567890123' + 'lost' + 'k'),
    );
  });
});

describe('formatTimestamp', () => {
  it('renders YmdHis in Asia/Shanghai by default', () => {
    const at = new Date(Date.UTC(2012, 11, 24, 18, 2, 2));
    expect(formatTimestamp(at)).toBe('20121225020202');
    expect(formatTimestamp(at, 'UTC')).toBe('20121224180202');
  });

  it('uses 00 for midnight, not 24', () => {
    expect(formatTimestamp(new Date(Date.UTC(2024, 0, 31, 16, 0, 0)))).toBe('20240201000000');
  });
});

describe('randomReqId', () => {
  it('yields 20 alphanumerics, different each time', () => {
    const a = randomReqId();
    const b = randomReqId();
    expect(a).toMatch(/^[A-Za-z0-9]{20}$/);
    expect(b).toMatch(/^[A-Za-z0-9]{20}$/);
    expect(a).not.toBe(b);
  });
});
