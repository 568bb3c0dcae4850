import { html, type Html } from './html.js';

/** A server-rendered SVG bar chart: one group of bars per label, one bar per series. */

export interface Series {
  name: string;
  /** A CSS colour (constants of this code only). */
  color: string;
  values: readonly number[];
}

export interface BarChartOptions {
  title: string;
  labels: readonly string[];
  series: readonly Series[];
  /** Formats an axis tick or a bar's value for its tooltip. */
  format: (n: number) => string;
  height?: number;
}

/** 1, 2 or 5 times a power of ten, at least `n`. */
function niceCeil(n: number): number {
  if (n <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(n));
  for (const m of [1, 2, 5, 10]) if (m * p >= n) return m * p;
  return 10 * p;
}

const r1 = (n: number) => Math.round(n * 10) / 10;

export function barChart(o: BarChartOptions): Html {
  const height = o.height ?? 260;
  const left = 64;
  const right = 12;
  const top = 28;
  const bottom = 40;
  const group = Math.max(28, o.series.length * 14 + 10);
  const width = Math.max(560, left + right + o.labels.length * group);
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const slot = plotW / Math.max(1, o.labels.length);
  const barW = Math.max(3, (slot - 8) / Math.max(1, o.series.length));
  const max = niceCeil(Math.max(0, ...o.series.flatMap((s) => s.values)));
  const y = (v: number) => top + plotH - (v / max) * plotH;
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => f * max);
  // Label every day while they fit, else every few.
  const every = Math.max(1, Math.ceil(o.labels.length / Math.floor(plotW / 44)));

  return html`<svg
    class="chart"
    viewBox="0 0 ${width} ${height}"
    role="img"
    aria-label="${o.title}"
    xmlns="http://www.w3.org/2000/svg"
    font-size="11"
    font-family="sans-serif"
  >
    <title>${o.title}</title>
    ${ticks.map(
      (t) =>
        html`<line x1="${left}" x2="${width - right}" y1="${r1(y(t))}" y2="${r1(y(t))}" stroke="#e6ebf0" />
          <text x="${left - 6}" y="${r1(y(t) + 4)}" text-anchor="end" fill="#5f6b7a">${o.format(t)}</text>`,
    )}
    ${o.labels.map((label, i) => {
      const x0 = left + i * slot + 4;
      return html`<g
        >${o.series.map((s, j) => {
          const v = s.values[i] ?? 0;
          const h = (v / max) * plotH;
          return html`<rect
            x="${r1(x0 + j * barW)}"
            y="${r1(top + plotH - h)}"
            width="${r1(Math.max(1, barW - 2))}"
            height="${r1(h)}"
            fill="${s.color}"
            ><title>${label} ${s.name}：${o.format(v)}</title></rect
          >`;
        })}${
          i % every === 0
            ? html`<text
                x="${r1(left + i * slot + slot / 2)}"
                y="${height - bottom + 16}"
                text-anchor="middle"
                fill="#52606d"
                >${label}</text
              >`
            : ''
        }</g
      >`;
    })}
    <line x1="${left}" x2="${width - right}" y1="${top + plotH}" y2="${top + plotH}" stroke="#9aa5b1" />
    ${o.series.map(
      (s, j) =>
        html`<rect x="${left + j * 130}" y="6" width="12" height="12" fill="${s.color}" /><text
            x="${left + j * 130 + 17}"
            y="16"
            fill="#3e4c59"
            >${s.name}</text
          >`,
    )}
  </svg>`;
}
