// The overview: what a responder woken at 3 a.m. needs in one screen —
// open incidents by severity, alerts over the last day, how fast Argus
// detects, how far behind each chain's follower is, each endpoint's
// health and the notifiers' backlog. New alerts arrive live.

import { alertsChart, bucket } from './chart.js';
import { ago, h, placeholder, severity, span, when } from './dom.js';

const RECENT = 8;

export async function render(view, ctx, _route, generation) {
  const data = await ctx.guard(generation, () => Promise.all([
    ctx.api('/api/incidents?open=true&limit=500'),
    ctx.api('/api/alerts?since=24h&limit=1000'),
    ctx.api('/api/metrics/response?since=30d'),
    ctx.api('/api/chains'),
    ctx.api('/api/outbox'),
  ]));
  if (!data || generation !== ctx.generation) return;
  const [incidents, alertList, metrics, chains, outbox] = data;
  const alerts = alertList.alerts;

  const chartBox = h('div', { id: 'alerts-chart' });
  const recentBox = h('ul', { class: 'plain', id: 'recent-alerts' });
  const drawAlerts = (fresh) => {
    chartBox.replaceChildren(alertsChart(bucket(alerts), chartBox.clientWidth || 720));
    recentBox.replaceChildren(...(alerts.length
      ? alerts.slice(0, RECENT).map((a) => alertItem(a, fresh && a.id === fresh))
      : [h('li', { class: 'dim' }, 'No alerts in the last 24 hours.')]));
  };
  view.replaceChildren(
    h('h1', {}, 'Overview'),
    h('div', { class: 'grid' },
      incidentsPanel(incidents.incidents),
      h('section', { class: 'panel', 'aria-labelledby': 'recent-h' },
        h('h2', { id: 'recent-h' }, 'Latest alerts'), recentBox,
        h('p', {}, h('a', { href: '#/alerts' }, 'All alerts →'))),
      h('section', { class: 'panel wide', 'aria-labelledby': 'chart-h' },
        h('h2', { id: 'chart-h' }, `Alerts per hour, last 24 hours (${alerts.length}${alerts.length >= 1000 ? '+' : ''})`),
        chartBox),
      responsePanel(metrics),
      chainsPanel(chains),
      outboxPanel(outbox),
    ),
  );

  drawAlerts(null);
  performance.mark('argus:overview-ready');
  let resized = null;
  const onResize = () => {
    clearTimeout(resized);
    resized = setTimeout(() => {
      if (generation === ctx.generation) drawAlerts(null);
      else window.removeEventListener('resize', onResize);
    }, 150);
  };
  window.addEventListener('resize', onResize);

  let reload = null;
  ctx.onEvent = (event) => {
    if (event.event === 'alert' && event.data && event.data.id) {
      if (!alerts.some((a) => a.id === event.data.id)) alerts.unshift(event.data);
      drawAlerts(event.data.id);
    } else if (event.event === 'incident' || event.event === 'retraction') {
      // Several rows arrive together: read once after the burst.
      clearTimeout(reload);
      reload = setTimeout(() => { if (generation === ctx.generation) render(view, ctx, _route, generation); }, 500);
    }
  };
}

function alertItem(alert, fresh) {
  return h('li', { class: fresh ? 'fresh' : '', 'data-alert': alert.id },
    severity(alert.severity), ' ', h('strong', {}, alert.title), ' ',
    h('span', { class: 'dim small' }, `${alert.rule_id} · ${alert.state} · ${ago(alert.at_ms)}`));
}

function incidentsPanel(incidents) {
  const counts = { P0: 0, P1: 0, P2: 0, P3: 0 };
  for (const incident of incidents) counts[incident.severity] = (counts[incident.severity] || 0) + 1;
  return h('section', { class: 'panel', 'aria-labelledby': 'incidents-h' },
    h('h2', { id: 'incidents-h' }, 'Open incidents'),
    h('div', { class: 'figures' }, Object.entries(counts).map(([sev, n]) =>
      h('div', { class: 'figure' }, h('b', {}, String(n)), severity(sev)))),
    incidents.length
      ? h('ul', { class: 'plain', id: 'open-incidents' }, incidents.slice(0, 10).map((i) => h('li', {},
        severity(i.severity), ' ',
        h('a', { href: `#/incidents/${i.id}` }, `#${i.id} ${i.title}`), ' ',
        h('span', { class: 'dim small' }, `${i.state} · opened ${ago(i.opened_ms)}`))))
      : h('p', { class: 'ok' }, 'No open incident.'));
}

function figure(label, ms) {
  return h('div', { class: 'figure' }, h('b', {}, span(ms)), h('span', {}, label));
}

function responsePanel(metrics) {
  return h('section', { class: 'panel', 'aria-labelledby': 'response-h' },
    h('h2', { id: 'response-h' }, 'Response, last 30 days'),
    h('div', { class: 'figures' },
      figure('detect (median)', metrics.mttd?.median_ms),
      figure('acknowledge (median)', metrics.mtta?.median_ms),
      figure('contain (median)', metrics.mttc?.median_ms),
      figure('resolve (median)', metrics.mttr?.median_ms)),
    h('p', { class: 'dim small' }, `${metrics.incidents} incident(s), ${metrics.resolved} resolved. Detection runs from the malicious block to the first alert.`));
}

function chainsPanel(chains) {
  const rows = chains.chains || [];
  if (!rows.length) {
    return h('section', { class: 'panel' }, h('h2', {}, 'Chains'), placeholder('empty', 'No chain followed yet.'));
  }
  return h('section', { class: 'panel', 'aria-labelledby': 'chains-h' },
    h('h2', { id: 'chains-h' }, chains.live ? 'Chains (live)' : 'Chains (from the store)'),
    h('table', { id: 'chains' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Chain'), h('th', {}, 'Block'), h('th', {}, 'Lag'), h('th', {}, 'Health'))),
      h('tbody', {}, rows.map((c) => h('tr', {},
        h('td', {}, c.chain),
        h('td', {}, c.tip ? String(c.tip.number) : '–'),
        h('td', {}, span(c.lag_ms)),
        h('td', { class: c.ok ? 'ok' : 'bad' }, c.ok ? '✓ ok' : '✗ behind'))))),
    rows.some((c) => Array.isArray(c.endpoints)) ? endpointsTable(rows) : h('p', { class: 'dim small' },
      'Endpoint figures are shown when the daemon serves this page.'));
}

function endpointsTable(rows) {
  return h('table', { id: 'endpoints' },
    h('thead', {}, h('tr', {}, h('th', {}, 'Endpoint'), h('th', {}, 'Requests'),
      h('th', {}, 'Errors'), h('th', { class: 'hide-narrow' }, 'p50 / p99'), h('th', {}, 'State'))),
    h('tbody', {}, rows.flatMap((c) => (c.endpoints || []).map((e) => {
      const errors = Object.values(e.errors || {}).reduce((n, v) => n + (typeof v === 'number' ? v : 0), 0);
      const benched = typeof e.benched_for_ms === 'number' && e.benched_for_ms > 0;
      return h('tr', {},
        h('td', {}, `${c.chain} · ${e.name}`),
        h('td', {}, String(e.requests)),
        h('td', { class: errors ? 'warn' : '' }, String(errors)),
        h('td', { class: 'hide-narrow' }, `${span(e.latency_p50_ms)} / ${span(e.latency_p99_ms)}`),
        h('td', { class: benched ? 'bad' : e.consecutive_failures ? 'warn' : 'ok' },
          benched ? `✗ benched ${span(e.benched_for_ms)}` : e.consecutive_failures ? `! ${e.consecutive_failures} failing` : '✓ ok'));
    }))));
}

function outboxPanel(outbox) {
  const notifiers = outbox.notifiers || [];
  const day = outbox.alerts_24h || {};
  return h('section', { class: 'panel', 'aria-labelledby': 'outbox-h' },
    h('h2', { id: 'outbox-h' }, 'Notifications'),
    h('div', { class: 'figures' },
      h('div', { class: 'figure' }, h('b', {}, String(notifiers.reduce((n, x) => n + x.pending, 0))), h('span', {}, 'pending')),
      h('div', { class: 'figure' }, h('b', {}, span(outbox.oldest_pending_age_ms)), h('span', {}, 'oldest pending')),
      h('div', { class: 'figure' }, h('b', {}, String(day.firing ?? 0)), h('span', {}, 'firing, 24 h'))),
    notifiers.length
      ? h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Notifier'), h('th', {}, 'Pending'), h('th', {}, 'Failed'), h('th', { class: 'hide-narrow' }, 'Last delivered'))),
        h('tbody', {}, notifiers.map((n) => h('tr', {},
          h('td', {}, n.notifier), h('td', { class: n.pending ? 'warn' : '' }, String(n.pending)),
          h('td', { class: n.failed ? 'bad' : '' }, String(n.failed)),
          h('td', { class: 'hide-narrow' }, when(n.last_delivered_at_ms))))))
      : h('p', { class: 'dim' }, 'No notifier has had anything to deliver.'));
}
