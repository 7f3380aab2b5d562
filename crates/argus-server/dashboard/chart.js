// The one chart the overview needs, drawn as inline SVG: alerts per hour
// over the last day, stacked by severity. Built with createElementNS and
// presentation attributes (no style attributes, which the page's
// Content-Security-Policy refuses), a title on each bar for the exact
// count, and a legend with words, not colour alone.

import { h } from './dom.js';

const SVG = 'http://www.w3.org/2000/svg';
export const SEVERITIES = ['critical', 'high', 'medium', 'low', 'info'];
const HOUR = 3_600_000;

function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs || {})) el.setAttribute(key, String(value));
  for (const child of children) el.append(child);
  return el;
}

/** Counts per hour (oldest first) and severity of `alerts` in the `hours`
 *  before `now`. */
export function bucket(alerts, now = Date.now(), hours = 24) {
  const end = Math.floor(now / HOUR) * HOUR + HOUR;
  const start = end - hours * HOUR;
  const buckets = Array.from({ length: hours }, (_, i) => ({
    at: start + i * HOUR,
    counts: Object.fromEntries(SEVERITIES.map((sev) => [sev, 0])),
  }));
  for (const alert of alerts) {
    const at = alert.at_ms;
    if (typeof at !== 'number' || at < start || at >= end) continue;
    const slot = buckets[Math.floor((at - start) / HOUR)];
    const sev = SEVERITIES.includes(alert.severity) ? alert.severity : 'info';
    slot.counts[sev] += 1;
  }
  return buckets;
}

/** The stacked bar chart of `buckets`, `width` pixels wide (drawn at the
 *  size it is shown, so its text stays legible on a phone), with its
 *  legend. */
export function alertsChart(buckets, width = 720) {
  width = Math.max(280, Math.round(width));
  const height = width < 500 ? 150 : 190;
  const left = 32;
  const bottom = 22;
  const top = 8;
  const max = Math.max(1, ...buckets.map((b) => SEVERITIES.reduce((n, sev) => n + b.counts[sev], 0)));
  const scale = (height - bottom - top) / max;
  const slot = (width - left) / buckets.length;
  const svg = s('svg', {
    class: 'chart', viewBox: `0 0 ${width} ${height}`, role: 'img',
    'aria-label': `Alerts per hour over the last ${buckets.length} hours; at most ${max} in an hour`,
  });
  const ticks = max >= 4 ? [0, Math.round(max / 2), max] : [0, max];
  for (const tick of ticks) {
    const y = height - bottom - tick * scale;
    svg.append(s('line', { x1: left, x2: width, y1: y, y2: y }));
    svg.append(s('text', { x: left - 4, y: y + 4, 'text-anchor': 'end' }, String(tick)));
  }
  buckets.forEach((b, i) => {
    let y = height - bottom;
    const x = left + i * slot + 1;
    const total = SEVERITIES.reduce((n, sev) => n + b.counts[sev], 0);
    const hour = new Date(b.at).getHours();
    for (const sev of SEVERITIES) {
      const n = b.counts[sev];
      if (!n) continue;
      const barHeight = n * scale;
      y -= barHeight;
      const rect = s('rect', { x, y, width: Math.max(1, slot - 2), height: barHeight, class: `bar-${sev}` });
      rect.append(s('title', {}, `${String(hour).padStart(2, '0')}:00 — ${n} ${sev} (${total} in all)`));
      svg.append(rect);
    }
    if (i % (slot < 24 ? 6 : 3) === 0) {
      svg.append(s('text', { x: x + slot / 2, y: height - 6, 'text-anchor': 'middle' }, `${String(hour).padStart(2, '0')}h`));
    }
  });
  const legend = h('div', { class: 'legend' },
    SEVERITIES.map((sev) => h('span', {}, h('i', { class: `key-${sev}` }), sev)));
  return h('div', {}, svg, legend);
}
