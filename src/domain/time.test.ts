import { describe, expect, it } from 'vitest';
import { formatYmdHis, parseTimestamp, startOfDay } from './time.js';

describe('platform time', () => {
  it('formats and parses YmdHis in Asia/Shanghai (UTC+8)', () => {
    const ms = Date.UTC(2012, 11, 24, 18, 2, 2);
    expect(formatYmdHis(ms, 'Asia/Shanghai')).toBe('20121225020202');
    expect(parseTimestamp('20121225020202', 'Asia/Shanghai')).toBe(ms);
    expect(formatYmdHis(ms, 'UTC')).toBe('20121224180202');
  });

  it('parses the 16-digit form with hundredths', () => {
    expect(parseTimestamp('2012030109241825', 'Asia/Shanghai')).toBe(Date.UTC(2012, 2, 1, 1, 24, 18, 250));
  });

  it('rejects impossible dates', () => {
    for (const bad of [
      '20121325020202',
      '20120230020202',
      '20121225240000',
      '20121225026002',
      '2012122502020',
      'abc',
      '',
    ]) {
      expect(parseTimestamp(bad, 'Asia/Shanghai')).toBeNull();
    }
    expect(parseTimestamp('20120229000000', 'Asia/Shanghai')).not.toBeNull();
  });

  it('finds the start of the local day', () => {
    const ms = Date.UTC(2026, 10, 28, 17, 30); // 01:30 on the 29th in Shanghai
    expect(formatYmdHis(startOfDay(ms, 'Asia/Shanghai'), 'Asia/Shanghai')).toBe('20261129000000');
  });
});
