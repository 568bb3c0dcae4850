import { describe, expect, it } from 'vitest';
import { CONSOLE_CSS } from './layout.js';

/** WCAG 2.x relative luminance of `#rrggbb` (or `#rgb`). */
function luminance(hex: string): number {
  const h = hex.length === 4 ? hex.replace(/^#(.)(.)(.)$/, '#$1$1$2$2$3$3') : hex;
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16) / 255);
  const lin = (c: number) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
  return 0.2126 * lin(r!) + 0.7152 * lin(g!) + 0.0722 * lin(b!);
}

function contrast(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi! + 0.05) / (lo! + 0.05);
}

/** The `color` (or another property) of the first rule whose selector list holds `selector`. */
function cssColor(selector: string, property = 'color'): string {
  for (const m of CONSOLE_CSS.matchAll(/([^{}]+)\{([^}]*)\}/g)) {
    const selectors = m[1]!.split(',').map((s) => s.trim());
    if (!selectors.includes(selector)) continue;
    const v = new RegExp(`(?:^|;)\\s*${property}:\\s*(#[0-9a-fA-F]{3,6})\\b`).exec(m[2]!);
    if (v) return v[1]!;
  }
  throw new Error(`no ${property} for ${selector} in the console CSS`);
}

describe('console colours', () => {
  it('computes contrast as WCAG does', () => {
    expect(contrast('#000000', '#ffffff')).toBeCloseTo(21, 5);
    expect(contrast('#777777', '#ffffff')).toBeCloseTo(4.48, 2);
  });

  it('gives hint, muted and label text at least 4.5:1 on every light background it sits on', () => {
    const backgrounds = {
      page: cssColor('body', 'background'),
      panel: cssColor('.panel', 'background'),
      'table header': cssColor('th', 'background'),
      'hovered row': cssColor('tr:hover td', 'background'),
    };
    const texts = {
      hint: cssColor('.field .hint'),
      muted: cssColor('.muted'),
      'stat note': cssColor('.stat .s'),
      'field label': cssColor('.field>span'),
      error: cssColor('.field .err'),
      'table header': cssColor('th'),
    };
    for (const [t, fg] of Object.entries(texts)) {
      for (const [b, bg] of Object.entries(backgrounds)) {
        expect(contrast(fg, bg), `${t} ${fg} on ${b} ${bg}`).toBeGreaterThanOrEqual(4.5);
      }
    }
  });
});
