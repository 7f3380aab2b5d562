// The API as the page uses it: every request carries the bearer token
// (kept in sessionStorage, so it goes when the tab closes), errors arrive
// as ApiError with the server's {error, detail}, and the event stream is
// read with fetch() — EventSource cannot send an Authorization header —
// and parsed here as the server-sent-events format says.

const TOKEN_KEY = 'argus.token';

export function token() {
  try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch { return ''; }
}

export function setToken(value) {
  try {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch { /* storage refused: the token lives only in this page */ }
}

export class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail || code);
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

function headers(extra) {
  const all = { Accept: 'application/json', ...extra };
  const bearer = token();
  if (bearer) all.Authorization = `Bearer ${bearer}`;
  return all;
}

/** One API call; JSON in, JSON (or text) out, ApiError on failure. */
export async function api(path, { method = 'GET', body, totp } = {}) {
  const extra = {};
  if (body !== undefined) extra['Content-Type'] = 'application/json';
  if (totp) extra['X-Argus-Totp'] = totp;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: headers(extra),
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch (error) {
    throw new ApiError(0, 'unreachable', `Argus cannot be reached (${error.message}); retrying may help`);
  }
  const type = response.headers.get('content-type') || '';
  let data = null;
  try {
    data = type.includes('json') ? await response.json() : await response.text();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const code = (data && data.error) || `http_${response.status}`;
    const detail = (data && data.detail) || response.statusText || code;
    throw new ApiError(response.status, code, detail);
  }
  return data;
}

/** Who the token belongs to. A server without tokens (an older `argus
 *  serve`) has no /api/session: the page then reads as an anonymous viewer. */
export async function session() {
  try {
    return await api('/api/session');
  } catch (error) {
    if (error.status === 404 && error.code === 'no_route') {
      return { name: 'anonymous', role: 'viewer', totp: false, anonymous: true };
    }
    throw error;
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Splits one event block of the stream into {event, data}. */
export function parseEvent(block) {
  let event = 'message';
  const data = [];
  for (const line of block.split('\n')) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  if (data.length === 0) return null;
  let parsed = null;
  try { parsed = JSON.parse(data.join('\n')); } catch { return null; }
  return { event, data: parsed };
}

/** The most a partial event may hold before the stream is dropped. */
const MAX_BUFFER = 1 << 20;

/**
 * Follows /api/events until stop() is called: each event to onEvent,
 * each change of the connection ('live', 'reconnecting', 'unauthorized')
 * to onState. Reconnects with backoff; the page reloads its data on each
 * 'live', since events sent while disconnected are not replayed.
 */
export function follow(onEvent, onState) {
  const abort = new AbortController();
  let stopped = false;
  (async () => {
    let delay = 1000;
    while (!stopped) {
      try {
        const response = await fetch('/api/events', {
          headers: headers({ Accept: 'text/event-stream' }),
          cache: 'no-store',
          credentials: 'omit',
          signal: abort.signal,
        });
        if (response.status === 401) { onState('unauthorized'); return; }
        if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
        onState('live');
        delay = 1000;
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer = (buffer + value).replace(/\r\n/g, '\n');
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const event = parseEvent(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
            if (event) onEvent(event);
          }
          if (buffer.length > MAX_BUFFER) throw new Error('an event too large');
        }
      } catch (error) {
        if (stopped) return;
      }
      onState('reconnecting');
      await sleep(delay);
      delay = Math.min(delay * 2, 15_000);
    }
  })();
  return () => { stopped = true; abort.abort(); };
}
