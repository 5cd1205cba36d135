/**
 * Small hand-written SVG charts for docs/benchmarks.md (no chart library): a line chart on
 * log-log axes, grouped bars, and horizontal stacked bars. Self-contained SVG 1.1 with
 * inline styles, readable on GitHub's light and dark backgrounds (white plot area).
 */

const FONT = 'font-family="Helvetica, Arial, sans-serif"';
export const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const f1 = (x: number) => (Math.round(x * 10) / 10).toString();

/** Split text into lines of at most `max` characters, at spaces. */
export function wrap(text: string, max: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const w of text.split(' ')) {
    if (line !== '' && line.length + 1 + w.length > max) {
      out.push(line);
      line = w;
    } else line = line === '' ? w : `${line} ${w}`;
  }
  if (line !== '') out.push(line);
  return out;
}

/** A note under the chart, wrapped to the width; returns the SVG elements. */
function noteLines(note: string | undefined, x: number, bottom: number, width: number): string[] {
  if (note === undefined) return [];
  const lines = wrap(note, Math.floor(width / 6));
  return lines.map((l, i) => `<text x="${x}" y="${bottom - 8 - (lines.length - 1 - i) * 14}" fill="#555" font-size="11">${esc(l)}</text>`);
}

/** Height the wrapped note needs. */
function noteHeight(note: string | undefined, width: number): number {
  return note === undefined ? 0 : wrap(note, Math.floor(width / 6)).length * 14 + 4;
}

function frame(width: number, height: number, title: string, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT} font-size="12">`,
    `<title>${esc(title)}</title>`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold" fill="#222">${esc(title)}</text>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

/** Human tick label for a rate (1000 → "1k"). */
export function rateLabel(v: number): string {
  if (v >= 1e6) return `${f1(v / 1e6)}M`;
  if (v >= 1e3) return `${f1(v / 1e3)}k`;
  return String(v);
}

/** Human tick label for a duration in µs (1000 → "1 ms"). */
export function usLabel(v: number): string {
  if (v >= 1e6) return `${f1(v / 1e6)} s`;
  if (v >= 1e3) return `${f1(v / 1e3)} ms`;
  return `${f1(v)} µs`;
}

export interface Series {
  name: string;
  color: string;
  dashed?: boolean;
  points: { x: number; y: number; hollow?: boolean }[];
}

export interface LineChartOptions {
  title: string;
  xTitle: string;
  yTitle: string;
  series: Series[];
  /** Horizontal reference lines (e.g. targets). */
  refs?: { y: number; label: string; color: string }[];
  xTicks: number[];
  xLabel(v: number): string;
  yLabel(v: number): string;
  note?: string;
  width?: number;
  height?: number;
}

/** Line chart with logarithmic x and y axes. */
export function logLogChart(o: LineChartOptions): string {
  const W = o.width ?? 760;
  const H = o.height ?? 430;
  const L = 72;
  const R = 190;
  const T = 40;
  const B = 52 + noteHeight(o.note, W - L);
  const pw = W - L - R;
  const ph = H - T - B;
  const xs = [...o.xTicks, ...o.series.flatMap((s) => s.points.map((p) => p.x))].filter((v) => v > 0);
  const ys = [...o.series.flatMap((s) => s.points.map((p) => p.y)), ...(o.refs ?? []).map((r) => r.y)].filter((v) => v > 0);
  const x0 = Math.log10(Math.min(...xs)) - 0.05;
  const x1 = Math.log10(Math.max(...xs)) + 0.05;
  const y0 = Math.floor(Math.log10(Math.min(...ys)));
  const y1 = Math.ceil(Math.log10(Math.max(...ys)) + 1e-9);
  const X = (v: number) => L + ((Math.log10(v) - x0) / (x1 - x0)) * pw;
  const Y = (v: number) => T + ph - ((Math.log10(Math.max(v, 10 ** y0)) - y0) / (y1 - y0 || 1)) * ph;
  const b: string[] = [];
  b.push(`<rect x="${L}" y="${T}" width="${pw}" height="${ph}" fill="#fbfbfb" stroke="#999"/>`);
  for (let e = y0; e <= y1; e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v > 10 ** y1) continue;
      const y = Y(v);
      b.push(`<line x1="${L}" x2="${L + pw}" y1="${f1(y)}" y2="${f1(y)}" stroke="${m === 1 ? '#ccc' : '#eee'}"/>`);
      if (m === 1 || y1 - y0 <= 2) b.push(`<text x="${L - 6}" y="${f1(y + 4)}" text-anchor="end" fill="#333">${esc(o.yLabel(v))}</text>`);
    }
  }
  for (const t of o.xTicks) {
    const x = X(t);
    b.push(`<line x1="${f1(x)}" x2="${f1(x)}" y1="${T}" y2="${T + ph}" stroke="#eee"/>`);
    b.push(`<text x="${f1(x)}" y="${T + ph + 16}" text-anchor="middle" fill="#333">${esc(o.xLabel(t))}</text>`);
  }
  b.push(`<text x="${L + pw / 2}" y="${T + ph + 36}" text-anchor="middle" fill="#222">${esc(o.xTitle)}</text>`);
  b.push(`<text transform="translate(16 ${T + ph / 2}) rotate(-90)" text-anchor="middle" fill="#222">${esc(o.yTitle)}</text>`);
  for (const r of o.refs ?? []) {
    const y = Y(r.y);
    b.push(`<line x1="${L}" x2="${L + pw}" y1="${f1(y)}" y2="${f1(y)}" stroke="${r.color}" stroke-dasharray="6 4" stroke-width="1.5"/>`);
    b.push(`<text x="${L + 4}" y="${f1(y - 4)}" fill="${r.color}" font-size="11">${esc(r.label)}</text>`);
  }
  o.series.forEach((s) => {
    const pts = [...s.points].sort((a, c) => a.x - c.x);
    if (pts.length > 1) {
      b.push(
        `<polyline fill="none" stroke="${s.color}" stroke-width="2"${s.dashed === true ? ' stroke-dasharray="5 3"' : ''} points="${pts.map((p) => `${f1(X(p.x))},${f1(Y(p.y))}`).join(' ')}"/>`,
      );
    }
    for (const p of pts) {
      b.push(`<circle cx="${f1(X(p.x))}" cy="${f1(Y(p.y))}" r="3.5" fill="${p.hollow === true ? '#fff' : s.color}" stroke="${s.color}" stroke-width="1.5"/>`);
    }
  });
  o.series.forEach((s, i) => {
    const y = T + 10 + i * 20;
    b.push(`<line x1="${L + pw + 14}" x2="${L + pw + 40}" y1="${y}" y2="${y}" stroke="${s.color}" stroke-width="2"${s.dashed === true ? ' stroke-dasharray="5 3"' : ''}/>`);
    b.push(`<text x="${L + pw + 46}" y="${y + 4}" fill="#222">${esc(s.name)}</text>`);
  });
  b.push(...noteLines(o.note, L, H, W - L));
  return frame(W, H, o.title, b);
}

export interface BarGroup {
  label: string;
  /** Lines under the group label. */
  sublabel?: string[];
  bars: { name: string; value: number; color: string; text?: string }[];
}

/** Vertical grouped bars on a linear axis starting at 0. */
export function groupedBars(o: { title: string; yTitle: string; groups: BarGroup[]; yLabel(v: number): string; note?: string; width?: number; height?: number }): string {
  const W = o.width ?? 760;
  const H = o.height ?? 400;
  const L = 72;
  const R = 170;
  const T = 40;
  const subLines = Math.max(0, ...o.groups.map((g) => g.sublabel?.length ?? 0));
  const B = 36 + subLines * 13 + noteHeight(o.note, W - L);
  const pw = W - L - R;
  const ph = H - T - B;
  const max = Math.max(1, ...o.groups.flatMap((g) => g.bars.map((b) => b.value)));
  const step = niceStep(max / 5);
  const top = Math.ceil(max / step) * step;
  const Y = (v: number) => T + ph - (v / top) * ph;
  const b: string[] = [];
  b.push(`<rect x="${L}" y="${T}" width="${pw}" height="${ph}" fill="#fbfbfb" stroke="#999"/>`);
  for (let v = 0; v <= top + 1e-9; v += step) {
    const y = Y(v);
    b.push(`<line x1="${L}" x2="${L + pw}" y1="${f1(y)}" y2="${f1(y)}" stroke="#e5e5e5"/>`);
    b.push(`<text x="${L - 6}" y="${f1(y + 4)}" text-anchor="end" fill="#333">${esc(o.yLabel(v))}</text>`);
  }
  const gw = pw / Math.max(1, o.groups.length);
  const names: { name: string; color: string }[] = [];
  o.groups.forEach((g, gi) => {
    const n = g.bars.length;
    const bw = Math.min(28, (gw * 0.8) / Math.max(1, n));
    const gx = L + gi * gw + (gw - bw * n) / 2;
    g.bars.forEach((bar, bi) => {
      if (!names.some((x) => x.name === bar.name)) names.push({ name: bar.name, color: bar.color });
      const x = gx + bi * bw;
      const y = Y(bar.value);
      b.push(`<rect x="${f1(x)}" y="${f1(y)}" width="${f1(bw - 2)}" height="${f1(T + ph - y)}" fill="${bar.color}"/>`);
      if (bar.text !== undefined) b.push(`<text x="${f1(x + (bw - 2) / 2)}" y="${f1(y - 4)}" text-anchor="middle" font-size="10" fill="#333">${esc(bar.text)}</text>`);
    });
    b.push(`<text x="${f1(L + gi * gw + gw / 2)}" y="${T + ph + 16}" text-anchor="middle" fill="#333">${esc(g.label)}</text>`);
    (g.sublabel ?? []).forEach((line, li) => b.push(`<text x="${f1(L + gi * gw + gw / 2)}" y="${T + ph + 30 + li * 13}" text-anchor="middle" fill="#666" font-size="10">${esc(line)}</text>`));
  });
  b.push(`<text transform="translate(16 ${T + ph / 2}) rotate(-90)" text-anchor="middle" fill="#222">${esc(o.yTitle)}</text>`);
  names.forEach((n, i) => {
    const y = T + 10 + i * 20;
    b.push(`<rect x="${L + pw + 14}" y="${y - 7}" width="14" height="14" fill="${n.color}"/>`);
    b.push(`<text x="${L + pw + 34}" y="${y + 4}" fill="#222">${esc(n.name)}</text>`);
  });
  b.push(...noteLines(o.note, L, H, W - L));
  return frame(W, H, o.title, b);
}

export interface StackRow {
  label: string;
  parts: { name: string; value: number; color: string }[];
  /** Text at the end of the bar (e.g. the total). */
  end?: string;
}

/** Horizontal stacked bars on a linear axis starting at 0; rows may be grouped under headings. */
export function stackedBars(o: { title: string; xTitle: string; groups: { heading: string; rows: StackRow[] }[]; xLabel(v: number): string; note?: string; width?: number }): string {
  const W = o.width ?? 820;
  const L = 250;
  const R = 30;
  const T = 40;
  const rowH = 22;
  const headH = 22;
  const rows = o.groups.reduce((a, g) => a + g.rows.length, 0);
  const legendNames: { name: string; color: string }[] = [];
  for (const g of o.groups) for (const r of g.rows) for (const p of r.parts) if (!legendNames.some((x) => x.name === p.name)) legendNames.push({ name: p.name, color: p.color });
  const legendRows = Math.ceil(legendNames.length / 4);
  const ph = rows * rowH + o.groups.length * headH;
  const H = T + ph + 40 + legendRows * 18 + 10 + noteHeight(o.note, W - 16);
  const pw = W - L - R;
  const max = Math.max(1, ...o.groups.flatMap((g) => g.rows.map((r) => r.parts.reduce((a, p) => a + Math.max(0, p.value), 0))));
  const step = niceStep(max / 6);
  const top = Math.ceil((max * 1.08) / step) * step;
  const X = (v: number) => L + (v / top) * pw;
  const b: string[] = [];
  for (let v = 0; v <= top + 1e-9; v += step) {
    const x = X(v);
    b.push(`<line x1="${f1(x)}" x2="${f1(x)}" y1="${T}" y2="${T + ph}" stroke="#e5e5e5"/>`);
    b.push(`<text x="${f1(x)}" y="${T + ph + 14}" text-anchor="middle" fill="#333" font-size="11">${esc(o.xLabel(v))}</text>`);
  }
  b.push(`<text x="${L + pw / 2}" y="${T + ph + 30}" text-anchor="middle" fill="#222">${esc(o.xTitle)}</text>`);
  let y = T;
  for (const g of o.groups) {
    b.push(`<text x="8" y="${y + 15}" font-weight="bold" fill="#222">${esc(g.heading)}</text>`);
    y += headH;
    for (const r of g.rows) {
      b.push(`<text x="${L - 6}" y="${y + 15}" text-anchor="end" fill="#333">${esc(r.label)}</text>`);
      let acc = 0;
      for (const p of r.parts) {
        const v = Math.max(0, p.value);
        b.push(`<rect x="${f1(X(acc))}" y="${y + 3}" width="${f1(X(acc + v) - X(acc))}" height="${rowH - 6}" fill="${p.color}"><title>${esc(`${p.name}: ${o.xLabel(v)}`)}</title></rect>`);
        acc += v;
      }
      if (r.end !== undefined) b.push(`<text x="${f1(X(acc) + 4)}" y="${y + 15}" fill="#333" font-size="11">${esc(r.end)}</text>`);
      y += rowH;
    }
  }
  b.push(`<line x1="${L}" x2="${L}" y1="${T}" y2="${T + ph}" stroke="#999"/>`);
  const ly = T + ph + 46;
  legendNames.forEach((n, i) => {
    const lx = 8 + (i % 4) * ((W - 16) / 4);
    const yy = ly + Math.floor(i / 4) * 18;
    b.push(`<rect x="${f1(lx)}" y="${yy - 10}" width="12" height="12" fill="${n.color}"/>`);
    b.push(`<text x="${f1(lx + 17)}" y="${yy}" fill="#222" font-size="11">${esc(n.name)}</text>`);
  });
  b.push(...noteLines(o.note, 8, H, W - 16));
  return frame(W, H, o.title, b);
}

/** 1, 2 or 5 × 10^k, at least `raw`. */
export function niceStep(raw: number): number {
  if (!(raw > 0)) return 1;
  const e = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * e >= raw) return m * e;
  return 10 * e;
}
