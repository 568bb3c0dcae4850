import { describe, expect, it } from 'vitest';
import { generateCardNo, generateMd5Key, generatePassword, isLuhnValid, luhnCheckDigit } from './secrets.js';

describe('card numbers and passwords', () => {
  it('computes Luhn check digits of known numbers', () => {
    expect(luhnCheckDigit('7992739871')).toBe(3);
    expect(isLuhnValid('79927398713')).toBe(true);
    expect(isLuhnValid('79927398710')).toBe(false);
    expect(isLuhnValid('4111111111111111')).toBe(true);
  });

  it('draws 16-digit Luhn-valid card numbers that do not repeat or run in sequence', () => {
    const numbers = Array.from({ length: 5000 }, generateCardNo);
    for (const n of numbers) {
      expect(n).toMatch(/^[1-9][0-9]{15}$/);
      expect(isLuhnValid(n)).toBe(true);
    }
    expect(new Set(numbers).size).toBe(numbers.length);
    const bodies = numbers.slice(0, 100).map((n) => Number(n.slice(0, 15)));
    const steps = new Set(bodies.slice(1).map((b, i) => b - bodies[i]!));
    expect(steps.size).toBeGreaterThan(90);
    // Every digit position varies.
    for (let pos = 1; pos < 15; pos++) expect(new Set(numbers.map((n) => n[pos])).size).toBe(10);
  });

  it('draws 8-digit passwords with leading zeros kept, and 32-hex md5keys', () => {
    const pwds = Array.from({ length: 2000 }, generatePassword);
    for (const p of pwds) expect(p).toMatch(/^[0-9]{8}$/);
    expect(new Set(pwds).size).toBeGreaterThan(1990);
    expect(generateMd5Key()).toMatch(/^[0-9a-f]{32}$/);
  });
});
