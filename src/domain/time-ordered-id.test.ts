import { describe, expect, it } from 'vitest';
import { timeOrderedId } from './time-ordered-id.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('timeOrderedId', () => {
  it('is a version 7 UUID whose first 48 bits are the given milliseconds', () => {
    const at = Date.UTC(2026, 11, 5, 22, 0, 0, 123);
    const id = timeOrderedId(at);
    expect(id).toMatch(UUID_V7);
    expect(parseInt(id.slice(0, 8) + id.slice(9, 13), 16)).toBe(at);
  });

  it('sorts by time: an id of a later millisecond sorts after every id of an earlier one', () => {
    const earlier = Array.from({ length: 200 }, () => timeOrderedId(1_700_000_000_000));
    const later = Array.from({ length: 200 }, () => timeOrderedId(1_700_000_000_001));
    expect(earlier.reduce((a, b) => (a > b ? a : b)) < later.reduce((a, b) => (a < b ? a : b))).toBe(true);
  });

  it('differs within one millisecond (74 random bits)', () => {
    const ids = Array.from({ length: 10_000 }, () => timeOrderedId(1_700_000_000_000));
    expect(new Set(ids).size).toBe(ids.length);
    // The 12 random bits after the version digit vary too, not only the last 62.
    expect(new Set(ids.map((id) => id.slice(15, 18))).size).toBeGreaterThan(1000);
  });
});
