import { describe, expect, it } from 'vitest';
import { formatYuan, parseYuan } from './money.js';

describe('money', () => {
  it('formats fen as yuan with two decimals', () => {
    expect(formatYuan(3500)).toBe('35.00');
    expect(formatYuan(5)).toBe('0.05');
    expect(formatYuan(9297)).toBe('92.97');
  });
  it('parses yuan amounts to fen and refuses anything else', () => {
    expect(parseYuan('35')).toBe(3500);
    expect(parseYuan('35.5')).toBe(3550);
    expect(parseYuan('0.07')).toBe(7);
    for (const bad of ['35.001', '-1', '1e3', '035', '', '.5', '35.']) expect(parseYuan(bad)).toBeNull();
  });
});
