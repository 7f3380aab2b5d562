// Incidents: the list, and one incident's page — its state, the alerts
// that opened it, the playbook's steps with their state (an Approve button
// where one waits for people, with the TOTP box the server may ask for),
// evidence, the timeline, the report, and the Ack and note actions.
// Timeline rows of this incident arriving live reload the page.

import { ago, h, placeholder, severity, short, span, toast, when } from './dom.js';

export async function renderList(view, ctx, _route, generation) {
  const data = await ctx.guard(generation, () => ctx.api('/api/incidents?limit=200'));
  if (!data || generation !== ctx.generation) return;
  const rows = data.incidents;
  view.replaceChildren(h('h1', {}, 'Incidents'), h('section', { class: 'panel' }, rows.length
    ? h('table', { id: 'incidents' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Severity'), h('th', {}, 'Incident'), h('th', {}, 'State'), h('th', { class: 'hide-narrow' }, 'Opened'))),
      h('tbody', {}, rows.map((i) => h('tr', {},
        h('td', {}, severity(i.severity)),
        h('td', {}, h('a', { href: `#/incidents/${i.id}` }, `#${i.id} ${i.title}`)),
        h('td', {}, i.state),
        h('td', { class: 'hide-narrow', title: when(i.opened_ms) }, ago(i.opened_ms))))))
    : placeholder('empty', 'No incident yet.')));
  ctx.onEvent = (event) => {
    if (event.event === 'incident') renderList(view, ctx, _route, generation);
  };
}

export async function render(view, ctx, route, generation) {
  const id = Number.parseInt(route.id, 10);
  if (!Number.isSafeInteger(id) || id <= 0) {
    view.replaceChildren(placeholder('error', `“${route.id}” is not an incident number.`));
    return;
  }
  const doc = await ctx.guard(generation, () => ctx.api(`/api/incidents/${id}`));
  if (!doc || generation !== ctx.generation) return;
  const reload = () => { if (generation === ctx.generation) render(view, ctx, route, generation); };
  const i = doc.incident;
  const canRespond = ['responder', 'admin'].includes(ctx.session.role) || ctx.session.anonymous;

  view.replaceChildren(
    h('p', {}, h('a', { href: '#/incidents' }, '← Incidents')),
    h('h1', {}, severity(i.severity), ' ', `#${i.id} ${i.title}`),
    h('section', { class: 'panel' },
      h('div', { class: 'figures' },
        fact('State', i.state, 'incident-state'),
        fact('Opened', ago(i.opened_ms)),
        fact('Acknowledged', i.acknowledged_ms ? `after ${span(i.acknowledged_ms - i.opened_ms)}` : 'not yet'),
        fact('Contained', i.contained_ms ? `after ${span(i.contained_ms - i.opened_ms)}` : 'not yet'),
        fact('Assignee', i.assignee || '–'),
        fact('Kind', i.kind)),
      i.public_status ? h('p', {}, 'Public line: ', h('em', {}, i.public_status)) : null,
      canRespond ? actions(i, ctx, reload) : h('p', { class: 'dim' }, 'Your role can read this incident but not act on it.')),
    h('div', { class: 'grid' },
      stepsPanel(doc, ctx, reload, canRespond),
      alertsPanel(doc.alerts || []),
      evidencePanel(i, doc.evidence || []),
      timelinePanel(doc.timeline || []),
      reportPanel(i.id, ctx)),
  );
  ctx.onEvent = (event) => {
    if (event.event === 'incident' && event.data && event.data.incident_id === id) reload();
  };
}

function fact(label, value, id) {
  return h('div', { class: 'figure' }, h('b', { id }, String(value)), h('span', {}, label));
}

function actions(incident, ctx, reload) {
  const box = h('div', { class: 'actions' });
  if (incident.state === 'open') {
    const ack = h('button', { type: 'button', class: 'primary', id: 'ack' }, 'Acknowledge');
    ack.addEventListener('click', async () => {
      ack.disabled = true;
      try {
        await ctx.api(`/api/incidents/${incident.id}/ack`, { method: 'POST', body: {} });
        toast(`Incident #${incident.id} acknowledged.`);
        reload();
      } catch (error) {
        toast(ctx.explain(error), 'error');
        ack.disabled = false;
      }
    });
    box.append(ack);
  }
  const text = h('textarea', { name: 'text', id: 'note-text', required: true, maxlength: 4000, placeholder: 'What you saw or did' });
  const note = h('form', { id: 'note', class: 'panel' }, h('label', { for: 'note-text' }, 'Add a note', text),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Add note')));
  note.addEventListener('submit', async (event) => {
    event.preventDefault();
    const submit = note.querySelector('button');
    submit.disabled = true;
    try {
      await ctx.api(`/api/incidents/${incident.id}/notes`, { method: 'POST', body: { text: text.value } });
      toast('Note added.');
      reload();
    } catch (error) {
      toast(ctx.explain(error), 'error');
      submit.disabled = false;
    }
  });
  return h('div', {}, box, note);
}

function stepsPanel(doc, ctx, reload, canRespond) {
  const steps = doc.steps || [];
  const approvals = doc.approvals || [];
  return h('section', { class: 'panel wide', 'aria-labelledby': 'steps-h' },
    h('h2', { id: 'steps-h' }, 'Playbook steps'),
    steps.length ? h('table', { id: 'steps' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Step'), h('th', {}, 'State'), h('th', { class: 'hide-narrow' }, 'Attempts'), h('th', {}, ''))),
      h('tbody', {}, steps.map((step) => {
        const given = approvals.filter((a) => a.step_id === step.step_id).length;
        return h('tr', { 'data-step': step.step_id },
          h('td', {}, h('strong', {}, step.step_id), h('br'), h('span', { class: 'dim small' }, step.action),
            step.last_error ? [h('br'), h('span', { class: 'bad small' }, step.last_error)] : null),
          h('td', { class: stepClass(step.state) }, stepWord(step.state),
            step.state === 'needs_approval' ? h('span', { class: 'small' }, ` (${given}/${step.approvals_needed})`) : null),
          h('td', { class: 'hide-narrow' }, `${step.attempts}/${step.max_attempts}`),
          h('td', {}, step.state !== 'needs_approval' ? null
            : canApprove(ctx) ? approveForm(doc.incident.id, step, ctx, reload)
              : h('span', { class: 'dim small' }, canRespond ? 'an admin approves' : '')));
      })))
      : placeholder('empty', 'No playbook steps for this incident.'));
}

/** Approvals are an admin's, with a TOTP code (the server decides; this
 *  only spares a responder a button that would answer 403). */
const canApprove = (ctx) => ctx.session.role === 'admin' || ctx.session.anonymous;

const STEP_WORDS = {
  waiting: '… waiting', needs_approval: '✋ needs approval', pending: '… pending', running: '▶ running',
  succeeded: '✓ succeeded', failed: '✗ failed', skipped: '– skipped',
};
const stepWord = (state) => STEP_WORDS[state] || state;
const stepClass = (state) => ({ succeeded: 'ok', failed: 'bad', needs_approval: 'warn', running: 'warn' }[state] || '');

/** Approve, with the TOTP box shown when the token's owner has one (or
 *  when the server asks for it). */
function approveForm(incidentId, step, ctx, reload) {
  const totp = h('input', { name: 'totp', inputmode: 'numeric', autocomplete: 'one-time-code', pattern: '[0-9]{6}',
    maxlength: 6, placeholder: '6-digit code', 'aria-label': 'TOTP code' });
  const totpLabel = h('label', { hidden: !ctx.session.totp }, 'Authenticator code', totp);
  const button = h('button', { type: 'submit', class: 'danger' }, 'Approve');
  const form = h('form', { class: 'row approve' }, totpLabel, button);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    button.disabled = true;
    try {
      await ctx.api(`/api/incidents/${incidentId}/steps/${encodeURIComponent(step.step_id)}/approve`,
        { method: 'POST', body: {}, totp: totp.value.trim() || undefined });
      toast(`Step ${step.step_id} approved.`);
      reload();
    } catch (error) {
      if (error.code === 'totp_required' || error.code === 'totp_invalid') {
        totpLabel.hidden = false;
        totp.focus();
        toast(error.code === 'totp_required' ? 'Enter the code from your authenticator.' : 'That code was refused; try the current one.', 'error');
      } else {
        toast(ctx.explain(error), 'error');
      }
      button.disabled = false;
    }
  });
  return form;
}

function alertsPanel(alerts) {
  return h('section', { class: 'panel', 'aria-labelledby': 'ialerts-h' },
    h('h2', { id: 'ialerts-h' }, `Alerts (${alerts.length})`),
    alerts.length ? h('ul', { class: 'plain' }, alerts.map((a) => h('li', {},
      a.severity ? severity(a.severity) : null, ' ', h('strong', {}, a.title || a.alert), h('br'),
      h('span', { class: 'dim small' }, `${a.rule} · ${when(a.event_ms)}`), ' ', short(a.alert))))
      : placeholder('empty', 'No alerts.'));
}

function evidencePanel(incident, files) {
  return h('section', { class: 'panel', 'aria-labelledby': 'evidence-h' },
    h('h2', { id: 'evidence-h' }, 'Evidence'),
    incident.evidence_root ? h('p', { class: 'small' }, 'Root ', short(incident.evidence_root)) : null,
    files.length ? h('ul', { class: 'plain' }, files.map((f) => h('li', {},
      h('code', {}, f.name), ' ', h('span', { class: 'dim small' }, `${f.bytes} bytes`), ' ', short(f.sha256))))
      : placeholder('empty', 'No evidence collected yet.'));
}

function timelinePanel(rows) {
  return h('section', { class: 'panel', 'aria-labelledby': 'timeline-h' },
    h('h2', { id: 'timeline-h' }, 'Timeline'),
    rows.length ? h('ol', { class: 'plain', id: 'timeline' }, rows.map((r) => h('li', {},
      h('span', { class: 'dim small' }, when(r.at_ms)), ' ', h('strong', {}, r.action), ' by ', r.actor,
      r.reason ? [h('br'), h('span', { class: 'small' }, r.reason)] : null)))
      : placeholder('empty', 'Nothing yet.'));
}

/** The report is fetched with the token (a plain link could not carry
 *  it) and shown, with a download of the same text. */
function reportPanel(id, ctx) {
  const out = h('div', {});
  const button = h('button', { type: 'button' }, 'Show the report');
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      const markdown = await ctx.api(`/api/incidents/${id}/report?format=markdown`);
      const url = URL.createObjectURL(new Blob([markdown], { type: 'text/markdown' }));
      out.replaceChildren(h('a', { href: url, download: `incident-${id}.md` }, 'Download as Markdown'), h('pre', {}, markdown));
    } catch (error) {
      toast(ctx.explain(error), 'error');
    }
    button.disabled = false;
  });
  return h('section', { class: 'panel wide', 'aria-labelledby': 'report-h' }, h('h2', { id: 'report-h' }, 'Report'), button, out);
}
