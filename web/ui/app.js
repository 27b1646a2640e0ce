// logviewer browser client. Protocol: README.md, "Protocol".
//
// Log text is only ever inserted as text nodes, never as HTML (render.js).
// The page URL always names host, file and filter (a share link); `line`
// and `log` point at one line while the server's ring still holds it.

import { Combo } from './combo.js';
import { Conn } from './conn.js';
import { level, matcher } from './render.js';
import { fmt, Rate } from './spark.js';
import { LogView } from './view.js';

const MAX_HELD = 100000;    // lines the view keeps (older ones are dropped)
const MAX_PENDING = 200000; // lines kept while paused
const LINK_CONTEXT = 200;   // lines fetched before a linked line
const PROTOCOL = 1;         // the hello's v this page understands

const $ = (id) => document.getElementById(id);
const el = {
  host: $('host'), file: $('file'), fileList: $('file-list'),
  filter: $('filter'), re: $('re'), cas: $('case'), inv: $('inv'), ferr: $('filter-error'),
  pause: $('pause'), wrap: $('wrap'), json: $('json'), top: $('top'), bottom: $('bottom'),
  theme: $('theme'), helpBtn: $('help-btn'), help: $('help'),
  log: $('log'), lines: $('lines'), trimmed: $('trimmed'), empty: $('empty'), pill: $('pill'),
  conn: $('conn'), connText: $('conn-text'), source: $('source'), sourceText: $('source-text'),
  pending: $('pending'), skipped: $('skipped'), held: $('held'), rate: $('rate'), spark: $('spark'), toast: $('toast'),
};

const S = {
  host: '', file: '',
  active: null,      // the filter the server applies to this view
  sent: null,        // a filter sent and not yet confirmed by a reset
  logId: '', lastSeq: 0, at: '', fresh: true,
  paused: false, pending: [], dropped: 0,
  n: 0,              // client-side record number (seqs restart with a new server)
  queue: [], flushing: false, flushTimer: 0,
  unseen: 0,
  skipped: 0, gapN: -1, lastGap: null, // lines the server could not send this view; the last gap row
  link: null,        // {seq, log}: the line named in the URL
  revealN: -1,
  source: { code: '' }, rotated: null,
  filesHost: '', filesAt: 0,
  refused: '',       // the server's reason for refusing this view, once noted in the log
};

const view = new LogView(el.log, el.lines, {
  max: MAX_HELD,
  onTrim: (n) => {
    el.trimmed.hidden = n === 0;
    el.trimmed.textContent = `${fmt(n)} earlier lines were dropped: this page keeps the last ${fmt(MAX_HELD)}.`;
  },
  onFollow: (f) => {
    if (f) S.unseen = 0;
    updatePill();
  },
});
const rate = new Rate(el.spark, el.rate);

// ---- URL: the share link -------------------------------------------------

function specOf(q) {
  return { text: q.get('q') || '', regex: q.get('re') === '1', case: q.get('case') === '1', invert: q.get('inv') === '1' };
}

function uiSpec() {
  return {
    text: el.filter.value,
    regex: pressed(el.re), case: pressed(el.cas), invert: pressed(el.inv),
  };
}

const sameSpec = (a, b) => !!a && !!b && a.text === b.text && (!a.text || (a.regex === b.regex && a.case === b.case && a.invert === b.invert));

function specParams(q, f) {
  if (!f.text) return;
  q.set('q', f.text);
  if (f.regex) q.set('re', '1');
  if (f.case) q.set('case', '1');
  if (f.invert) q.set('inv', '1');
}

function pageURL(link) {
  const q = new URLSearchParams();
  if (S.host) q.set('host', S.host);
  if (S.file) q.set('file', S.file);
  specParams(q, uiSpec());
  if (link) { q.set('line', String(link.seq)); q.set('log', link.log); }
  const s = q.toString();
  return location.pathname + (s ? '?' + s : '');
}

function writeURL() {
  history.replaceState(null, '', pageURL(S.link));
  const base = S.file ? S.file.slice(S.file.lastIndexOf('/') + 1) : '';
  document.title = (S.paused ? 'Paused · ' : '') + (base ? `${base} · ${S.host} — logviewer` : 'logviewer');
}

// ---- small UI helpers -------------------------------------------------------

const pressed = (b) => b.getAttribute('aria-pressed') === 'true';
const press = (b, on) => b.setAttribute('aria-pressed', String(on));

let toastTimer = 0;
function toast(msg) {
  el.toast.textContent = msg;
  el.toast.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.toast.hidden = true; }, 2500);
}

function size(n) {
  const u = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(n < 10 ? 1 : 0) : n) + ' ' + u[i];
}

function age(iso) {
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (!Number.isFinite(s)) return '';
  if (s < 60) return Math.floor(s) + 's ago';
  if (s < 3600) return Math.floor(s / 60) + 'm ago';
  if (s < 86400) return Math.floor(s / 3600) + 'h ago';
  return Math.floor(s / 86400) + 'd ago';
}

// ---- hosts and files --------------------------------------------------------

async function getJSON(url) {
  const r = await fetch(url, { cache: 'no-store' });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

function option(value, text) {
  const o = document.createElement('option');
  o.value = value;
  o.textContent = text;
  return o;
}

async function loadHosts() {
  const hosts = await getJSON('api/hosts');
  el.host.replaceChildren(option('', hosts.length ? 'Choose a host…' : 'No hosts configured'));
  for (const h of hosts) {
    const bad = h.state && !['following', 'connected', 'starting'].includes(h.state.code);
    el.host.append(option(h.name, h.name + (bad ? ` (${h.state.code})` : '')));
  }
  return hosts.map((h) => h.name);
}

const combo = new Combo(el.file, el.fileList, (path) => { S.file = path; S.link = null; writeURL(); connect(); });

async function loadFiles() {
  if (!S.host) { combo.setItems([], 'Choose a host first'); return; }
  if (S.filesHost !== S.host) combo.setItems([], 'Loading…');
  const host = S.host;
  S.filesHost = host;
  S.filesAt = Date.now();
  try {
    const { files } = await getJSON('api/files?host=' + encodeURIComponent(host));
    if (host !== S.host) return;
    combo.setItems(files.map((f) => ({ value: f.path, label: f.path, meta: `${size(f.size)} · ${age(f.mtime)}` })),
      'No files match this host\'s globs');
  } catch (e) {
    combo.setItems([], 'Cannot list files: ' + e.message);
    setConn('error', 'cannot list files', e.message);
  }
}

// ---- status -----------------------------------------------------------------

function setConn(kind, text, detail) {
  el.conn.dataset.state = kind;
  el.source.classList.toggle('stale', kind !== 'live'); // the source's state is last known only
  el.connText.textContent = text;
  el.conn.title = detail || '';
  updateEmpty();
}

const SOURCE = {
  starting: 'starting', following: 'following', waiting: 'waiting for the file', connecting: 'connecting to host',
  reconnecting: 'host reconnecting', error: 'source error', stopped: 'stopped',
};

function setSource(st) {
  if (st) S.source = st;
  const { code, msg } = S.source;
  let kind = code, text = SOURCE[code] || code || '';
  if (code === 'following' && S.rotated && Date.now() - S.rotated.at < 30000) {
    kind = 'rotated';
    text = `following · ${S.rotated.what}`;
  }
  el.source.dataset.state = kind;
  el.sourceText.textContent = text + (msg && code !== 'following' ? `: ${msg}` : '');
  el.source.title = msg || '';
  el.source.hidden = !text;
  updateEmpty();
}

function updateHeld() {
  const n = view.count - view.marks;
  el.held.textContent = `${fmt(n)} line${n === 1 ? '' : 's'}`;
  el.held.title = view.trimmed ? `${fmt(view.trimmed)} earlier lines dropped` : '';
}

const gapText = (n) => `${fmt(n)} lines skipped: this view fell behind and the server no longer holds them`;

function updateSkipped() {
  el.skipped.hidden = !S.skipped;
  el.skipped.textContent = `${fmt(S.skipped)} skipped`;
  el.skipped.title = `${fmt(S.skipped)} lines were not shown: this view fell behind and the server no longer held them. Click to see the last gap.`;
}

function updatePending() {
  el.pending.hidden = !S.paused;
  const n = S.pending.length + S.dropped;
  el.pending.textContent = n ? `${fmt(n)} new line${n === 1 ? '' : 's'}` : 'no new lines';
  el.pause.querySelector('span').textContent = S.paused ? 'Resume' : 'Pause';
  press(el.pause, S.paused);
  updatePill();
}

function updatePill() {
  if (S.paused) {
    const n = S.pending.length + S.dropped;
    const icon = document.createElement('i');
    icon.className = 'bars';
    el.pill.replaceChildren(icon, `Paused · ${fmt(n)} new line${n === 1 ? '' : 's'} · Resume`);
    el.pill.hidden = false;
  } else if (!view.follow && S.unseen) {
    el.pill.textContent = `↓ ${fmt(S.unseen)} new line${S.unseen === 1 ? '' : 's'}`;
    el.pill.hidden = false;
  } else {
    el.pill.hidden = true;
  }
}

function updateEmpty() {
  const empty = view.count === 0 && !S.pending.length;
  el.empty.hidden = !empty;
  if (!empty) return;
  let msg;
  if (!S.host) msg = 'Choose a host, then a file to follow it live.';
  else if (!S.file) msg = 'Choose a file to follow (type to search).';
  else if (el.conn.dataset.state === 'error') msg = el.conn.title || el.connText.textContent;
  else if (S.source.code === 'waiting') msg = `Waiting for ${S.file} to appear…`;
  else if (S.active && S.active.text) msg = 'No line matches the filter yet. Matching lines will appear here as they arrive.';
  else if (el.conn.dataset.state === 'live') msg = `${S.file} is empty. New lines will appear here as they are written.`;
  else msg = 'Connecting…';
  el.empty.textContent = msg;
}

// ---- filter -------------------------------------------------------------------

function showFilterError(msg) {
  // The server quotes the expression it compiled: drop the (?i) it added.
  msg = msg.replace(/"\(\?i\)/, '"');
  el.ferr.textContent = msg.charAt(0).toUpperCase() + msg.slice(1);
  el.ferr.hidden = !msg;
  if (msg) el.filter.setAttribute('aria-invalid', 'true'); else el.filter.removeAttribute('aria-invalid');
}

let filterTimer = 0;
function filterChanged(now) {
  clearTimeout(filterTimer);
  filterTimer = setTimeout(() => {
    S.link = null;
    writeURL();
    const f = uiSpec();
    if (!S.file) return;
    if (sameSpec(f, S.sent || S.active) && !el.ferr.textContent) return;
    if (conn.open) {
      S.sent = f;
      conn.send({ type: 'filter', ...f });
    } else {
      connect(); // the view must match the filter it was built with
    }
  }, now ? 0 : 150);
}

// ---- records --------------------------------------------------------------------

function rec(seq, ts, text, mark) {
  return { n: ++S.n, seq, ts, text, mark: mark || '', lvl: mark ? '' : level(text) };
}

function note(text, mark = 'note') {
  receive([rec(0, Date.now(), text, mark)], false);
}

/** receive shows records, or holds them while paused (replays always show). */
function receive(recs, replay) {
  if (!recs.length) return;
  if (S.paused && !replay) {
    S.pending.push(...recs);
    if (S.pending.length > MAX_PENDING) S.dropped += S.pending.splice(0, S.pending.length - MAX_PENDING).length;
    updatePending();
    updateEmpty();
    return;
  }
  if (!view.follow) { S.unseen += recs.length; updatePill(); }
  S.queue.push(recs);
  if (!S.flushing) {
    S.flushing = true;
    requestAnimationFrame(flush);
    S.flushTimer = setTimeout(flush, 200); // rAF does not run in hidden tabs
  }
}

function flush() {
  if (!S.flushing) return;
  S.flushing = false;
  clearTimeout(S.flushTimer);
  const recs = S.queue.length === 1 ? S.queue[0] : S.queue.flat();
  S.queue = [];
  view.append(recs);
  if (S.revealN >= 0 && view.reveal(S.revealN)) S.revealN = -1;
  updateHeld();
  updateEmpty();
}

function clearView() {
  S.skipped = 0;
  S.gapN = -1;
  S.lastGap = null;
  updateSkipped();
  S.queue = [];
  S.pending = [];
  S.dropped = 0;
  S.unseen = 0;
  view.clear();
  updateHeld();
  updatePending();
  updateEmpty();
}

function setPaused(p) {
  if (p === S.paused) return;
  S.paused = p;
  if (!p) {
    const recs = S.pending;
    S.pending = [];
    if (S.dropped) recs.unshift(rec(0, Date.now(), `${fmt(S.dropped)} lines arrived while paused beyond the ${fmt(MAX_PENDING)} this page holds, and were dropped`, 'gap'));
    S.dropped = 0;
    view.bottom();
    receive(recs, false);
  }
  updatePending();
  writeURL();
}

// ---- connection -----------------------------------------------------------------

function wsURL() {
  if (!S.host || !S.file) return '';
  const q = new URLSearchParams({ host: S.host, file: S.file });
  specParams(q, S.active || uiSpec());
  if (!S.fresh) {
    if (S.logId) { q.set('log', S.logId); q.set('since', String(S.lastSeq)); }
    if (S.at) q.set('at', S.at);
  }
  // Relative to the page, so that the UI also works under a path prefix.
  const u = new URL('ws?' + q, location.href);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  return u.href;
}

const conn = new Conn({
  url: wsURL,
  message: handle,
  state: (kind, text, detail) => setConn(kind, text, detail),
  refused: (status, msg) => {
    if (status === 400 && /regular expression|filter/i.test(msg)) {
      showFilterError(msg);
      setConn('error', 'filter refused', msg);
      return false; // waits for the filter to change
    }
    setConn('error', status === 404 ? 'not available' : 'refused', msg);
    // With no lines the empty view says why; with lines (the view was live,
    // then the server stopped serving it), say it once in the log too.
    if (view.count > 0 && S.refused !== msg) note(`The server no longer serves this view: ${msg}`, 'gap');
    S.refused = msg;
    return true;
  },
});

/** connect starts a fresh view of the chosen file. */
function connect() {
  conn.stop();
  S.logId = ''; S.lastSeq = 0; S.at = ''; S.fresh = true;
  S.active = uiSpec(); S.sent = null;
  S.source = { code: '' }; S.rotated = null; S.refused = '';
  setSource();
  showFilterError('');
  view.options({ re: matcher(S.active), target: -1 });
  clearView();
  if (S.link && S.link.log) {
    // Resume just before the linked line, on the log session it came from.
    S.logId = S.link.log; S.lastSeq = Math.max(0, S.link.seq - LINK_CONTEXT - 1); S.fresh = false;
  }
  if (!S.host || !S.file) { setConn('idle', S.host ? 'no file' : 'idle'); return; }
  conn.start();
}

function handle(m) {
  switch (m.type) {
    case 'hello': {
      const prev = S.logId;
      const had = view.count > 0 || S.pending.length > 0;
      if (m.v !== PROTOCOL) toast(`The server speaks protocol v${m.v}, this page v${PROTOCOL}: reload the page.`);
      setConn('live', 'connected', `log ${m.log}`);
      S.refused = '';
      if (S.link && !S.link.done && S.link.log !== m.log) {
        note(`Line #${S.link.seq} of the link is from an earlier session of this log, which the server no longer holds; showing the latest lines.`);
        S.link = null;
        writeURL();
      }
      if (!m.resumed && had) {
        if (S.fresh) clearView();
        else note('Reconnected to a new session of this log that no longer holds this position: lines below start afresh (some may repeat or be missing).', 'gap');
      } else if (m.resumed && prev && prev !== m.log && had) {
        note('The server restarted (or reopened this log): continued from the same place in the file.');
      }
      S.logId = m.log;
      setSource(m.state);
      break;
    }
    case 'lines': {
      const ls = m.lines;
      if (!ls.length) break;
      S.lastSeq = ls[ls.length - 1].seq;
      if (m.at) S.at = m.at;
      S.fresh = false;
      const recs = new Array(ls.length);
      let live = 0;
      for (let i = 0; i < ls.length; i++) {
        const l = ls[i];
        const r = rec(l.seq, l.ts, l.text, l.mark);
        recs[i] = r;
        if (l.mark) markSeen(l.mark);
        else live++;
        if (S.link && !S.link.done && !r.mark && r.seq >= S.link.seq) {
          S.link.done = true;
          if (r.seq === S.link.seq) S.revealN = r.n;
          else toast(`Line #${S.link.seq} of the link does not match the current filter`);
        }
      }
      if (!m.replay) rate.add(live);
      receive(recs, !!m.replay);
      break;
    }
    case 'gap':
      S.lastSeq = m.to;
      if (S.link && !S.link.done) {
        if (m.to < S.link.seq) break; // only context before the linked line is gone
        note(`Line #${S.link.seq} of the link is no longer held by the server.`);
        S.link.done = true;
      }
      S.skipped += m.to - m.from + 1;
      updateSkipped();
      if (S.lastGap && S.lastGap.seq === m.from - 1 && S.lastGap.n === S.n) {
        // Right after another gap: one row for both.
        S.lastGap.size += m.to - m.from + 1;
        S.lastGap.seq = m.to;
        S.lastGap.text = gapText(S.lastGap.size);
        view.redraw(S.lastGap.n);
      } else {
        const r = rec(m.to, Date.now(), gapText(m.to - m.from + 1), 'gap');
        r.size = m.to - m.from + 1;
        S.lastGap = r;
        S.gapN = r.n;
        receive([r], false);
      }
      break;
    case 'status':
      setSource(m.state);
      break;
    case 'reset':
      if (S.sent) S.active = S.sent;
      S.sent = null;
      S.fresh = true; // until the re-filtered replay arrives, a reconnect starts over
      showFilterError('');
      view.options({ re: matcher(S.active), target: -1 });
      clearView();
      break;
    case 'error':
      if (m.code === 'bad_filter') {
        S.sent = null;
        showFilterError(m.msg);
      } else {
        toast(m.msg);
      }
      break;
  }
}

function markSeen(mark) {
  if (mark === 'rotated' || mark === 'truncated') {
    S.rotated = { at: Date.now(), what: mark };
    setSource();
    setTimeout(() => setSource(), 30500);
  }
}

// ---- line links -------------------------------------------------------------------

async function copyLink(lineEl) {
  const seq = Number(lineEl.dataset.seq), n = Number(lineEl.dataset.n);
  if (!seq || !S.logId) return;
  S.link = { seq, log: S.logId, done: true };
  writeURL();
  for (const t of el.lines.querySelectorAll('.ln.target')) t.classList.remove('target');
  lineEl.classList.add('target');
  view.render.target = n;
  const url = location.href;
  try {
    await navigator.clipboard.writeText(url);
    toast(`Link to line #${seq} copied`);
  } catch {
    toast('Link to this line is in the address bar');
  }
}

// ---- preferences ---------------------------------------------------------------------

function pref(name, fallback) {
  try { const v = localStorage.getItem('logviewer.' + name); return v === null ? fallback : v; } catch { return fallback; }
}

function setPref(name, v) {
  try { localStorage.setItem('logviewer.' + name, v); } catch { /* private mode */ }
}

const dark = matchMedia('(prefers-color-scheme: dark)');
function theme() {
  return document.documentElement.dataset.theme || (dark.matches ? 'dark' : 'light');
}

function showTheme() {
  const t = theme();
  el.theme.title = `Switch to the ${t === 'dark' ? 'light' : 'dark'} theme`;
  el.theme.dataset.mode = t;
  rate.draw();
}

function toggle(btn, name, apply) {
  const on = !pressed(btn);
  press(btn, on);
  setPref(name, on ? '1' : '0');
  apply(on);
}

function setWrap(on) {
  el.log.classList.toggle('wrap', on);
  view.options({ wrap: on });
}

// ---- keyboard ----------------------------------------------------------------------------

function typing(t) {
  return t instanceof HTMLElement && (t.isContentEditable || t.matches('input, textarea, select'));
}

function keydown(e) {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  const t = e.target;
  if (e.key === 'Escape') {
    if (el.help.open) return;
    if (t === el.filter || !typing(t)) {
      if (el.filter.value) { el.filter.value = ''; filterChanged(true); }
      else if (t === el.filter) el.filter.blur();
      e.preventDefault();
    }
    return;
  }
  if (typing(t) || el.help.open) return;
  if (e.key === ' ' && t instanceof HTMLButtonElement) return; // the button's own action
  switch (e.key) {
    case '/': el.filter.focus(); el.filter.select(); break;
    case ' ': setPaused(!S.paused); break;
    case 'g': view.top(); break;
    case 'G': view.bottom(); break;
    case 'w': el.wrap.click(); break;
    case 'j': el.json.click(); break;
    case '?': el.help.showModal(); break;
    default: return;
  }
  e.preventDefault();
}

// ---- wiring ----------------------------------------------------------------------------

async function start() {
  const q = new URLSearchParams(location.search);
  const f = specOf(q);
  el.filter.value = f.text;
  press(el.re, f.regex); press(el.cas, f.case); press(el.inv, f.invert);
  const line = Number(q.get('line'));
  if (line > 0 && q.get('log')) S.link = { seq: line, log: q.get('log') };

  press(el.wrap, pref('wrap', innerWidth < 640 ? '1' : '0') === '1'); // phones wrap unless told otherwise
  press(el.json, pref('json', '0') === '1');
  el.log.classList.toggle('wrap', pressed(el.wrap));
  view.options({ wrap: pressed(el.wrap), json: pressed(el.json) });
  showTheme();
  dark.addEventListener('change', showTheme);

  el.host.addEventListener('change', async () => {
    S.host = el.host.value; S.file = ''; S.link = null;
    combo.set('');
    writeURL();
    connect();
    await loadFiles();
    if (S.host) el.file.focus();
  });
  // Sizes and ages go stale: list the files again when the list is reopened.
  el.file.addEventListener('focus', () => { if (S.host && Date.now() - S.filesAt > 5000) loadFiles(); });
  el.filter.addEventListener('input', () => filterChanged(false));
  el.filter.addEventListener('keydown', (e) => { if (e.key === 'Enter') filterChanged(true); });
  for (const b of [el.re, el.cas, el.inv]) {
    b.addEventListener('click', () => { press(b, !pressed(b)); filterChanged(true); });
  }
  el.pause.addEventListener('click', () => setPaused(!S.paused));
  el.pill.addEventListener('click', () => { if (S.paused) setPaused(false); else view.bottom(); });
  el.wrap.addEventListener('click', () => toggle(el.wrap, 'wrap', setWrap));
  el.json.addEventListener('click', () => toggle(el.json, 'json', (on) => view.options({ json: on })));
  el.top.addEventListener('click', () => view.top());
  el.bottom.addEventListener('click', () => view.bottom());
  el.theme.addEventListener('click', () => {
    const next = theme() === 'dark' ? 'light' : 'dark';
    document.documentElement.dataset.theme = next;
    setPref('theme', next);
    showTheme();
  });
  el.helpBtn.addEventListener('click', () => el.help.showModal());
  el.help.addEventListener('click', (e) => { if (e.target === el.help || e.target.closest('.close')) el.help.close(); });
  el.conn.addEventListener('click', () => conn.soon());
  el.skipped.addEventListener('click', () => { if (S.gapN >= 0) view.reveal(S.gapN); });
  el.lines.addEventListener('click', (e) => {
    const g = e.target.closest('.gut');
    if (g) copyLink(g.parentElement);
  });
  // A mouse click leaves focus on the button; give it back so space pauses.
  document.addEventListener('click', (e) => {
    const b = e.target.closest('button');
    if (b && e.detail > 0 && !b.closest('dialog')) b.blur();
  });
  document.addEventListener('keydown', keydown);

  let hosts = [];
  try {
    hosts = await loadHosts();
  } catch (e) {
    setConn('error', 'cannot load hosts', e.message);
    return;
  }
  const want = q.get('host') || '';
  S.host = hosts.includes(want) ? want : hosts.length === 1 ? hosts[0] : '';
  el.host.value = S.host;
  if (want && !S.host) toast(`No host named “${want}”`);
  S.file = S.host ? q.get('file') || '' : '';
  combo.set(S.file);
  writeURL();
  connect();
  await loadFiles();
  if (S.host && !S.file && document.activeElement === document.body) el.file.focus();
}

start();
