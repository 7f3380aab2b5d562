// Building the page from data without HTML strings. Alert titles, labels
// and reasons come from chain data and from people: every text goes in
// through textContent (`h` appends strings as text nodes), so none of it
// can become markup. Also the formats the pages share: times, durations,
// severities, short hashes.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'class') {
      el.className = value;
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

const SEVERITY_WORDS = { critical: 'Critical', high: 'High', medium: 'Medium', low: 'Low', info: 'Info',
  P0: 'P0', P1: 'P1', P2: 'P2', P3: 'P3' };

/** A severity as a badge: its colour and its word. */
export function severity(value) {
  const word = SEVERITY_WORDS[value] || String(value || '?');
  return h('span', { class: `sev sev-${SEVERITY_WORDS[value] ? value : 'info'}` }, word);
}

/** Milliseconds since the epoch as local date and time, to the second. */
export function when(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '–';
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** A span of milliseconds for a person: 850 ms, 12 s, 4 min, 3 h, 2 d. */
export function span(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '–';
  const abs = Math.abs(ms);
  if (abs < 1000) return `${Math.round(ms)} ms`;
  if (abs < 60_000) return `${(ms / 1000).toFixed(abs < 10_000 ? 1 : 0)} s`;
  if (abs < 3_600_000) return `${Math.round(ms / 60_000)} min`;
  if (abs < 86_400_000) return `${(ms / 3_600_000).toFixed(1)} h`;
  return `${(ms / 86_400_000).toFixed(1)} d`;
}

/** How long ago, from now. */
export function ago(ms) {
  if (typeof ms !== 'number') return '–';
  return `${span(Date.now() - ms)} ago`;
}

/** A long hex string shortened for a table; the full one in the title. */
export function short(hex) {
  const text = String(hex || '');
  const el = h('code', { title: text }, text.length > 14 ? `${text.slice(0, 8)}…${text.slice(-4)}` : text);
  return el;
}

/** A loading, empty or error placeholder. */
export function placeholder(kind, text) {
  return h('p', { class: `state ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
}

/** A short message at the corner of the screen. */
export function toast(text, kind = 'info') {
  const box = document.getElementById('toasts');
  if (!box) return;
  const el = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
  box.append(el);
  setTimeout(() => el.remove(), kind === 'error' ? 8_000 : 3_000);
  while (box.children.length > 3) box.firstElementChild.remove();
}

/** The hash route's query string as an object. */
export function query(hash) {
  const at = hash.indexOf('?');
  return at < 0 ? {} : Object.fromEntries(new URLSearchParams(hash.slice(at + 1)));
}
