// The registry: every contract with its chain, address, label and tags,
// the rules that watch it (from /api/rules' `watches`: `any`, an address,
// a label or `tag:<tag>`), and one contract's ABI — functions with their
// selectors, events with their topics, errors, and the raw JSON.

import { h, placeholder, short, when } from './dom.js';

/** The rules of `rules` that match `entry`. */
export function watchers(entry, rules) {
  const address = (entry.address || '').toLowerCase();
  return rules.filter((rule) => (rule.watches || []).some((w) => {
    if (w === 'any') return true;
    if (w.startsWith('tag:')) return (entry.tags || []).includes(w.slice(4));
    if (w.startsWith('0x')) return address !== '' && w.toLowerCase() === address;
    return entry.label === w;
  }));
}

const rulesOf = (ctx) => ctx.api('/api/rules').then((d) => d.rules).catch(() => null);

export async function render(view, ctx, _route, generation) {
  const data = await ctx.guard(generation, () => Promise.all([ctx.api('/api/registry'), rulesOf(ctx)]));
  if (!data || generation !== ctx.generation) return;
  const [{ contracts }, rules] = data;
  view.replaceChildren(h('h1', {}, 'Registry'), h('section', { class: 'panel' }, contracts.length
    ? h('table', { id: 'registry' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Contract'), h('th', {}, 'Chain'), h('th', { class: 'hide-narrow' }, 'Address'), h('th', {}, 'Watched by'))),
      h('tbody', {}, contracts.map((c) => h('tr', {},
        h('td', {}, h('a', { href: link(c) }, c.label || c.address || `#${c.id}`),
          (c.tags || []).map((t) => [' ', h('span', { class: 'tag' }, t)])),
        h('td', {}, c.chain || 'artifact'),
        h('td', { class: 'hide-narrow' }, c.address ? short(c.address) : '–'),
        h('td', { class: 'small' }, rules === null ? h('span', { class: 'dim' }, 'rules not loaded')
          : watchedBy(watchers(c, rules)))))))
    : placeholder('empty', 'The registry is empty; `argus registry import` fills it.')));
}

function link(entry) {
  const target = encodeURIComponent(entry.label || entry.address || '');
  return `#/registry/${target}${entry.chain_id !== null && entry.chain_id !== undefined ? `?chain=${entry.chain_id}` : '?artifact=true'}`;
}

function watchedBy(rules) {
  return rules.length ? rules.map((r, i) => [i ? ', ' : '', h('a', { href: `#/alerts?rule=${encodeURIComponent(r.id)}` }, r.id)])
    : h('span', { class: 'warn' }, 'no rule');
}

export async function renderContract(view, ctx, route, generation) {
  const at = route.hash.indexOf('?');
  const given = new URLSearchParams(at < 0 ? '' : route.hash.slice(at + 1));
  const params = new URLSearchParams();
  if (/^[0-9]{1,20}$/.test(given.get('chain') || '')) params.set('chain', given.get('chain'));
  else if (given.get('artifact') === 'true') params.set('artifact', 'true');
  const path = `/api/registry/${encodeURIComponent(route.id)}${params.toString() ? `?${params}` : ''}`;
  const data = await ctx.guard(generation, () => Promise.all([ctx.api(path), rulesOf(ctx)]));
  if (!data || generation !== ctx.generation) return;
  const [c, rules] = data;
  view.replaceChildren(
    h('p', {}, h('a', { href: '#/registry' }, '← Registry')),
    h('h1', {}, c.label || c.address || `#${c.id}`),
    h('section', { class: 'panel' },
      h('div', { class: 'figures' },
        h('div', { class: 'figure' }, h('b', {}, c.chain || 'artifact'), h('span', {}, 'chain')),
        h('div', { class: 'figure' }, h('b', {}, `v${c.abi_version}`), h('span', {}, 'ABI version')),
        h('div', { class: 'figure' }, h('b', {}, c.kind || '–'), h('span', {}, 'kind'))),
      c.address ? h('p', {}, 'Address ', h('code', {}, c.address)) : null,
      c.implementation ? h('p', {}, 'Implementation ', h('code', {}, c.implementation)) : null,
      h('p', {}, 'Watched by: ', rules === null ? 'rules not loaded' : watchedBy(watchers(c, rules))),
      h('p', { class: 'dim small' }, `Source ${c.source || '–'} · updated ${typeof c.updated_at === 'number' ? when(c.updated_at) : (c.updated_at || '–')}`)),
    h('div', { class: 'grid' },
      abiTable('Functions', c.functions || [], (f) => [h('code', {}, f.selector), f.signature, f.state_mutability]),
      abiTable('Events', c.events || [], (e) => [short(e.topic0), e.signature, e.anonymous ? 'anonymous' : '']),
      abiTable('Errors', c.errors || [], (e) => [h('code', {}, e.selector), e.signature, '']),
      h('section', { class: 'panel wide' }, h('details', {}, h('summary', {}, 'ABI as JSON'),
        h('pre', {}, JSON.stringify(c.abi, null, 2))))),
  );
}

function abiTable(title, items, cells) {
  return h('section', { class: 'panel wide' }, h('h2', {}, `${title} (${items.length})`), items.length
    ? h('table', {}, h('tbody', {}, items.map((item) => h('tr', {}, cells(item).map((cell, i) =>
      h('td', { class: i === 1 ? 'mono' : 'small' }, cell))))))
    : h('p', { class: 'dim' }, 'None.'));
}
