// The dashboard's shell: login, hash routing between the pages, the live
// event stream, and the states every page shares (loading, empty, error,
// 401 back to login, 503 "store busy, retrying").
//
// Pages are modules with `render(view, ctx, route)`: they build into
// `view`, may set `ctx.onEvent` for live events, and run their reads
// through `ctx.guard`, which owns the error states. A route change bumps
// `ctx.generation`, so a slow answer for a page left behind is dropped.

import { api, ApiError, follow, session, setToken, token } from './api.js';
import { h, placeholder, toast } from './dom.js';
import * as overview from './overview.js';
import * as alerts from './alerts.js';
import * as incident from './incident.js';
import * as registry from './registry.js';

const view = document.getElementById('view');
const bar = document.getElementById('bar');
const live = document.getElementById('live');
const who = document.getElementById('who');

const ctx = {
  session: null,
  generation: 0,
  onEvent: null,
  api,
  /** Runs a page's reads; shows the error states; retries a busy store. */
  async guard(generation, load) {
    try {
      return await load();
    } catch (error) {
      if (generation !== ctx.generation) return undefined;
      if (!(error instanceof ApiError)) throw error;
      if (error.status === 401 && error.code !== 'totp_required' && error.code !== 'totp_invalid') {
        logout('The server refused the token (it may have been revoked). Log in again.');
      } else if (error.status === 503) {
        view.replaceChildren(placeholder('busy', 'The store is busy; retrying…'));
        setTimeout(() => { if (generation === ctx.generation) route(); }, 2000);
      } else {
        view.replaceChildren(
          placeholder('error', `${error.detail}`),
          h('div', { class: 'actions' }, h('button', { type: 'button', onclick: () => route() }, 'Try again')),
        );
      }
      return undefined;
    }
  },
  /** A write's error as a sentence for a toast. */
  explain(error) {
    if (!(error instanceof ApiError)) return String(error);
    if (error.status === 403) return `Your role (${ctx.session?.role}) may not do this: ${error.detail}`;
    if (error.status === 429) return 'Too many requests; wait a moment and try again.';
    return error.detail;
  },
};

const PAGES = {
  overview: overview.render,
  alerts: alerts.render,
  incidents: incident.renderList,
  incident: incident.render,
  registry: registry.render,
  contract: registry.renderContract,
};

/** `#/incidents/12?x=1` → { page: 'incident', id: '12', hash }. */
function parseHash() {
  const hash = location.hash.replace(/^#\/?/, '') || 'overview';
  const path = hash.split('?')[0];
  const parts = path.split('/').map((p) => { try { return decodeURIComponent(p); } catch { return p; } });
  if (parts[0] === 'incidents' && parts[1]) return { page: 'incident', id: parts[1], hash };
  if (parts[0] === 'registry' && parts[1]) return { page: 'contract', id: parts[1], hash };
  return { page: PAGES[parts[0]] ? parts[0] : 'overview', hash };
}

function route() {
  if (!ctx.session) return;
  ctx.generation += 1;
  ctx.onEvent = null;
  const target = parseHash();
  for (const link of document.querySelectorAll('#nav a')) {
    const page = link.dataset.page;
    const current = page === target.page || (page === 'incidents' && target.page === 'incident')
      || (page === 'registry' && target.page === 'contract');
    link.classList.toggle('current', current);
    if (current) link.setAttribute('aria-current', 'page'); else link.removeAttribute('aria-current');
  }
  view.dataset.page = target.page;
  view.replaceChildren(placeholder('loading', 'Loading…'));
  PAGES[target.page](view, ctx, target, ctx.generation);
}

let stopFollowing = null;

function showLogin(message) {
  bar.hidden = true;
  document.title = 'Argus — log in';
  const input = h('input', {
    id: 'token', type: 'password', name: 'token', autocomplete: 'off', spellcheck: 'false',
    placeholder: 'argus_…', required: true, 'aria-describedby': 'login-help',
  });
  const note = h('p', { class: `message ${message ? 'error' : ''}`, id: 'login-message', role: 'alert' }, message || '');
  const button = h('button', { type: 'submit', class: 'primary', id: 'login-button' }, 'Log in');
  const form = h('form', { class: 'panel login', id: 'login' },
    h('h1', {}, 'Argus'),
    h('label', { for: 'token' }, 'Access token', input),
    h('p', { class: 'dim small', id: 'login-help' },
      'Made by `argus tokens create`. Kept in this tab only, until it closes.'),
    note, button);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    button.disabled = true;
    note.textContent = 'Checking…';
    note.className = 'message';
    setToken(input.value.trim());
    try {
      await start();
    } catch (error) {
      setToken('');
      note.className = 'message error';
      note.textContent = error instanceof ApiError && error.status === 401
        ? 'That token was refused. Check it, or ask an admin for a new one.'
        : `Cannot log in: ${error.message}`;
      button.disabled = false;
    }
  });
  view.replaceChildren(form);
  input.focus();
}

function logout(message) {
  if (stopFollowing) stopFollowing();
  stopFollowing = null;
  setToken('');
  ctx.session = null;
  ctx.generation += 1;
  showLogin(message);
}

function setLive(state) {
  live.dataset.state = state;
  live.textContent = { live: 'live', reconnecting: 'reconnecting…', off: 'offline' }[state] || state;
}

async function start() {
  ctx.session = await session();
  const s = ctx.session;
  bar.hidden = false;
  document.title = 'Argus';
  who.textContent = s.anonymous ? 'read-only server' : `${s.name} · ${s.role}`;
  if (stopFollowing) stopFollowing();
  let first = true;
  stopFollowing = follow((event) => {
    if (event.event === 'alert' && event.data && ['firing', 'silenced'].includes(event.data.state)
      && event.data.severity === 'critical') {
      toast(`Critical alert: ${event.data.title}`, 'error');
    }
    if (ctx.onEvent) ctx.onEvent(event);
  }, (state) => {
    if (state === 'unauthorized') { logout('The server refused the token. Log in again.'); return; }
    setLive(state);
    // Events sent while the stream was down are not replayed: reload.
    if (state === 'live' && !first) route();
    if (state === 'live') first = false;
  });
  route();
}

window.addEventListener('hashchange', route);
document.getElementById('logout').addEventListener('click', () => logout(''));

if (token()) {
  start().catch((error) => {
    if (error instanceof ApiError && error.status === 401) logout('The saved token was refused. Log in again.');
    else logout(`Cannot reach Argus: ${error.message}`);
  });
} else {
  showLogin('');
}
