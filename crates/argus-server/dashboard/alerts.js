// Alerts: filtered by rule, lowest severity and state (kept in the hash,
// so a filtered view can be shared), with a silence button per rule and
// the silences in force. New alerts that match the filter appear live.

import { ago, h, placeholder, query, severity, short, toast, when } from './dom.js';

const SEVERITIES = ['critical', 'high', 'medium', 'low', 'info'];
const STATES = ['firing', 'suppressed', 'silenced', 'retracted'];
const RANK = Object.fromEntries(SEVERITIES.map((s, i) => [s, i]));

export async function render(view, ctx, route, generation) {
  const filter = query(route.hash);
  const params = new URLSearchParams({ limit: '200' });
  if (filter.rule) params.set('rule', filter.rule);
  if (SEVERITIES.includes(filter.min_severity)) params.set('min_severity', filter.min_severity);
  if (STATES.includes(filter.state)) params.set('state', filter.state);
  const data = await ctx.guard(generation, () => Promise.all([
    ctx.api(`/api/alerts?${params}`),
    ctx.api('/api/silences?active=true'),
    ctx.api('/api/rules').catch(() => ({ rules: [] })),
  ]));
  if (!data || generation !== ctx.generation) return;
  const [{ alerts }, { silences }, { rules }] = data;

  const reload = () => { if (generation === ctx.generation) render(view, ctx, route, generation); };
  const tbody = h('tbody', {});
  const draw = (freshId) => {
    tbody.replaceChildren(...alerts.map((a) => row(a, a.id === freshId, ctx, reload)));
  };
  draw(null);

  view.replaceChildren(
    h('h1', {}, 'Alerts'),
    filterForm(filter, rules),
    h('section', { class: 'panel' },
      alerts.length
        ? h('table', { id: 'alerts' },
          h('thead', {}, h('tr', {}, h('th', {}, 'Severity'), h('th', {}, 'Alert'),
            h('th', { class: 'hide-narrow' }, 'Where'), h('th', {}, 'When'), h('th', {}, ''))),
          tbody)
        : placeholder('empty', 'No alert matches. New ones appear here as they fire.')),
    silencesPanel(silences, ctx),
  );

  ctx.onEvent = (event) => {
    if (event.event !== 'alert' || !event.data || !event.data.id) return;
    const a = event.data;
    if (filter.rule && a.rule_id !== filter.rule) return;
    if (filter.state && a.state !== filter.state) return;
    if (filter.min_severity && RANK[a.severity] > RANK[filter.min_severity]) return;
    if (alerts.some((x) => x.id === a.id)) return;
    alerts.unshift(a);
    if (alerts.length === 1) { render(view, ctx, route, generation); return; }
    draw(a.id);
  };
}

function filterForm(filter, rules) {
  const ruleInput = rules.length
    ? h('select', { name: 'rule' }, h('option', { value: '' }, 'any rule'),
      rules.map((r) => h('option', { value: r.id, selected: r.id === filter.rule }, r.id)))
    : h('input', { name: 'rule', value: filter.rule || '', placeholder: 'rule id' });
  const form = h('form', { class: 'row panel', id: 'alert-filter' },
    h('label', {}, 'Rule', ruleInput),
    h('label', {}, 'At least', h('select', { name: 'min_severity' }, h('option', { value: '' }, 'any severity'),
      SEVERITIES.map((s) => h('option', { value: s, selected: s === filter.min_severity }, s)))),
    h('label', {}, 'State', h('select', { name: 'state' }, h('option', { value: '' }, 'any state'),
      STATES.map((s) => h('option', { value: s, selected: s === filter.state }, s)))),
    h('button', { type: 'submit', class: 'primary' }, 'Filter'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const [key, value] of new FormData(form)) if (value) params.set(key, String(value));
    location.hash = `#/alerts${params.toString() ? `?${params}` : ''}`;
  });
  return form;
}

function row(alert, fresh, ctx, reload) {
  const where = alert.chain_id == null ? '–'
    : `chain ${alert.chain_id}${alert.block_number != null ? ` · block ${alert.block_number}` : ''}`;
  return h('tr', { class: fresh ? 'fresh' : '', 'data-alert': alert.id },
    h('td', {}, severity(alert.severity)),
    h('td', {}, h('strong', {}, alert.title), h('br'),
      h('span', { class: 'dim small' }, `${alert.rule_id} · ${alert.state}${alert.duplicates ? ` · +${alert.duplicates} duplicates` : ''}`)),
    h('td', { class: 'hide-narrow small' }, where, alert.tx_hash ? [h('br'), short(alert.tx_hash)] : null),
    h('td', { class: 'small', title: when(alert.at_ms) }, ago(alert.at_ms)),
    h('td', {}, h('button', { type: 'button', class: 'quiet', onclick: (e) => silenceDialog(e.currentTarget, alert, ctx, reload) }, 'Silence…')));
}

/** The silence form, opened under the row's button. */
function silenceDialog(button, alert, ctx, reload) {
  const cell = button.parentElement;
  if (cell.querySelector('form')) return;
  const reason = h('input', { name: 'reason', required: true, placeholder: 'why (kept in the audit log)' });
  const form = h('form', { class: 'row' },
    h('label', {}, 'For', h('select', { name: 'for' },
      ['30m', '1h', '4h', '24h'].map((d) => h('option', { value: d, selected: d === '1h' }, d)))),
    h('label', {}, 'Reason', reason),
    h('button', { type: 'submit', class: 'danger' }, `Silence ${alert.rule_id}`),
    h('button', { type: 'button', class: 'quiet', onclick: () => form.remove() }, 'Cancel'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const values = Object.fromEntries(new FormData(form));
    const submit = form.querySelector('button[type=submit]');
    submit.disabled = true;
    try {
      await ctx.api('/api/silences', { method: 'POST', body: { rule: alert.rule_id, for: values.for, reason: values.reason } });
      toast(`Silenced ${alert.rule_id} for ${values.for}.`);
      reload();
    } catch (error) {
      toast(ctx.explain(error), 'error');
      submit.disabled = false;
    }
  });
  cell.append(form);
  reason.focus();
}

function silencesPanel(silences, ctx) {
  return h('section', { class: 'panel', 'aria-labelledby': 'silences-h' },
    h('h2', { id: 'silences-h' }, 'Silences in force'),
    silences.length
      ? h('ul', { class: 'plain', id: 'silences' }, silences.map((s) => h('li', {},
        h('strong', {}, matcherText(s.matcher || {})),
        ' ', h('span', { class: 'dim small' }, `until ${when(s.ends_at_ms)} · ${s.reason || ''} · by ${s.created_by || '?'}`),
        ' ', h('button', { type: 'button', class: 'quiet', onclick: async (e) => {
          e.currentTarget.disabled = true;
          try {
            await ctx.api(`/api/silences/${encodeURIComponent(s.id)}/end`, { method: 'POST', body: {} });
            toast('Silence ended.');
            e.target.closest('li')?.remove();
          } catch (error) { toast(ctx.explain(error), 'error'); e.target.disabled = false; }
        } }, 'End'))))
      : h('p', { class: 'dim' }, 'None.'));
}

function matcherText(m) {
  const parts = [];
  if (m.rule_id) parts.push(`rule ${m.rule_id}`);
  if (m.max_severity) parts.push(`${m.max_severity} or milder`);
  if (m.chain !== undefined && m.chain !== null) parts.push(`chain ${m.chain}`);
  if (m.address) parts.push(m.address);
  return parts.join(' · ') || 'everything';
}
