// logviewer browser client. Protocol: README.md, "Protocol".
//
// Log text is only ever inserted as text nodes, never as HTML (render.js).
// The page URL always names host (or group), file and filter (a link to the
// view); `line` and `log` point at one line while the server's ring still
// holds it. A group's view (a merged view) also names the hosts hidden
// (`hide=a,b`) or shown alone (`solo=a`): that is the browser's choice, the
// server sends every host's lines. `from=mark:ID` (or a time) opens the view
// there.
//
// Who is asking comes first: the page asks api/me, and shows the sign-in
// form (or, for a share link that is no longer valid, why) in place of the
// log until the server knows who it is. A shared view (?share=TOKEN) shows
// the one log the token names; every request then carries the token.
// Every URL is relative to the page: the server may run under a base path.

import { Combo } from './combo.js';
import { Conn } from './conn.js';
import { hostColour, level, matcher } from './render.js';
import { strip } from './ansi.js';
import { fmt, Rate, short } from './spark.js';
import { LogView } from './view.js';

const MAX_HELD = 100000;    // lines the view keeps (older ones are dropped)
const MAX_PENDING = 200000; // lines kept while paused
const LINK_CONTEXT = 200;   // lines fetched before a linked line
const PROTOCOL = 1;         // the hello's v this page understands
const RATE_SECONDS = 5;     // a host chip's lines/s is the mean over this many seconds
const MARKS_EVERY = 2000;   // ms between two listings of deploy marks (for who posted them)

const $ = (id) => document.getElementById(id);
const el = {
  host: $('host'), hostLbl: $('host-lbl'), file: $('file'), fileList: $('file-list'), chips: $('chips'),
  filter: $('filter'), re: $('re'), cas: $('case'), inv: $('inv'), ferr: $('filter-error'),
  pause: $('pause'), wrap: $('wrap'), json: $('json'), top: $('top'), bottom: $('bottom'),
  theme: $('theme'), helpBtn: $('help-btn'), help: $('help'),
  log: $('log'), lines: $('lines'), trimmed: $('trimmed'), empty: $('empty'), pill: $('pill'),
  conn: $('conn'), connText: $('conn-text'), source: $('source'), sourceText: $('source-text'),
  pending: $('pending'), skipped: $('skipped'), held: $('held'), rate: $('rate'), spark: $('spark'), toast: $('toast'),
  share: $('share'), who: $('who'), whoName: $('who-name'), signout: $('signout'), banner: $('banner'),
  gate: $('gate'), signin: $('signin'), signinWhy: $('signin-why'), signinFields: $('signin-fields'),
  user: $('user'), password: $('password'), signinErr: $('signin-error'), signinBtn: $('signin-btn'), oidc: $('oidc'),
  ended: $('ended'), endedTitle: $('ended-title'), endedMsg: $('ended-msg'),
  shareDlg: $('share-dlg'), shareWhat: $('share-what'), shareErr: $('share-error'), shareOut: $('share-out'),
  shareURL: $('share-url'), shareCopy: $('share-copy'), shareExp: $('share-exp'), shareMake: $('share-make'),
  levels: $('levels'), ctx: $('ctx'), from: $('from'), copy: $('copy'), time: $('time'), markNow: $('mark-now'), font: $('font'), fromClear: $('from-clear'), download: $('download'),
  offline: $('offline'), offlineText: $('offline-text'), retry: $('retry'),
  older: $('older'), olderText: $('older-text'), olderMore: $('older-more'),
};

const EVENT_SHOW = 5;       // an event with more continuation lines than this is shown folded to its first line
const OLDER_N = 500;        // lines asked for per older request
const OLDER_AUTO = 4;       // older requests a search back makes on its own before asking to keep searching
// A line's level as render.js names it → the level filter's name.
const LEVEL_OF = { f: 'error', e: 'error', w: 'warn', i: 'info', d: 'debug', t: 'debug', '': 'other' };

// The share token this page was opened with: it is the page's identity.
const SHARE = new URLSearchParams(location.search).get('share') || '';

/** withShare adds the page's share token to a relative URL. */
function withShare(u) {
  return SHARE ? u + (u.includes('?') ? '&' : '?') + 'share=' + encodeURIComponent(SHARE) : u;
}

const S = {
  host: '', file: '',
  group: '',         // a group's merged view ('': one host's)
  members: [],       // the merged view's hosts (its hello)
  logs: {},          // host → log id, and
  seqs: {},          // host → the last seq held: the resume vector
  sure: new Set(),   // hosts whose log the last hello confirmed: their lines at or below seqs are repeats
  hide: new Set(),   // hosts whose lines are held but not shown
  solo: '',          // the one host shown ('' : all but hide)
  chips: new Map(),  // host → {el, state, counts}
  seenMarks: [],     // deploy marks shown in this merged view (a reconnect may send one again)
  from: '',          // the URL's from= (mark:ID or a time) while the view is the one it opened
  fromPending: false, // reveal where the view starts when its first lines arrive
  revealTop: false,
  markInfo: new Map(), // `${ts}\0${text}` → {id, by}: the deploy marks listed
  markRecs: [],      // deploy-mark records still waiting for who posted them
  marksAt: 0, marksTimer: 0,
  groups: [],        // api/groups
  hostInfo: [],      // api/hosts
  hostsAt: 0,
  active: null,      // the filter the server applies to this view
  sent: null,        // a filter sent and not yet confirmed by a reset
  logId: '', lastSeq: 0, at: '', fresh: true,
  paused: false, pending: [], dropped: 0,
  n: 1e9,            // client-side record number (seqs restart with a new server); older lines count down from the first
  queue: [], flushing: false, flushTimer: 0,
  unseen: 0,
  skipped: 0, gapN: -1, lastGap: null, // lines the server could not send this view; the last gap row
  link: null,        // {seq, log}: the line named in the URL
  revealN: -1,
  source: { code: '' }, rotated: null,
  filesHost: '', filesAt: 0, filesErr: '',
  badLink: '',       // what is wrong with the link the page was opened with (its URL is kept as it was)
  refused: '',       // the server's reason for refusing this view, once noted in the log
  me: null,          // api/me: who this page is (null while signed out)
  shared: null,      // the share's {host, file, q, re, case, inv} in a shared view
  booted: false,     // the view in the URL has been set up (signing in again resumes it)
  heads: new Map(),  // host ('' : a single view) → the record that started the event being received
  grown: new Set(),  // events that got lines since the last flush
  hostsFiltered: false, // hide/solo applies
  level: '',         // the level filter ('' : every level)
  counts: { error: 0, warn: 0, info: 0, debug: 0, other: 0 }, // lines held per level
  nLow: 1e9,         // record numbers of older lines go down from here (new ones up)
  wasLive: false,    // this view was connected: losing it shows the offline banner
  ringN: 0, ringFirst: 1, // the lines the server held since this view's hello: what its filter searched
  // History (older frames): before is the position to ask before ('' : not
  // known yet); more false once the first line ever kept was reached.
  older: newOlder(),
  gated: false,      // the sign-in form or an end message covers the page
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
  onTop: () => askOlder(false),
});
const rate = new Rate(el.spark, el.rate);

// ---- URL: the share link -------------------------------------------------

function specOf(q) {
  return {
    text: q.get('q') || '', regex: q.get('re') === '1', case: q.get('case') === '1', invert: q.get('inv') === '1',
    level: q.get('level') || '', context: Math.max(0, Math.min(20, Number(q.get('context')) || 0)),
  };
}

function uiSpec() {
  return {
    text: el.filter.value,
    regex: pressed(el.re), case: pressed(el.cas), invert: pressed(el.inv),
    level: S.level, context: Number(el.ctx.value) || 0,
  };
}

const sameSpec = (a, b) => !!a && !!b && a.text === b.text && (a.level || '') === (b.level || '') &&
  (!(a.text || a.level) || (a.context || 0) === (b.context || 0)) &&
  (!a.text || (a.regex === b.regex && a.case === b.case && a.invert === b.invert));

function specParams(q, f) {
  if (f.level) q.set('level', f.level);
  if (f.context && (f.text || f.level)) q.set('context', String(f.context));
  if (!f.text) return;
  q.set('q', f.text);
  if (f.regex) q.set('re', '1');
  if (f.case) q.set('case', '1');
  if (f.invert) q.set('inv', '1');
}

function pageURL(link) {
  const q = new URLSearchParams();
  if (SHARE) {
    // The token names host and file; a filter other than the shared one is
    // spelled out (an empty q too: "no filter").
    q.set('share', SHARE);
    const f = uiSpec();
    if (S.shared && !sameSpec(f, shareSpec())) {
      q.set('q', f.text);
      specParams(q, f);
    }
  } else {
    if (S.group) q.set('group', S.group);
    else if (S.host) q.set('host', S.host);
    if (S.file) q.set('file', S.file);
    specParams(q, uiSpec());
    if (S.group && S.solo) q.set('solo', S.solo);
    else if (S.group && S.hide.size) q.set('hide', [...S.hide].join(','));
    if (S.from) q.set('from', S.from);
  }
  if (link && link.pos) q.set('at', link.pos);
  else if (link) { q.set('line', String(link.seq)); q.set('log', link.log); }
  const s = q.toString();
  return location.pathname + (s ? '?' + s : '');
}

function writeURL() {
  // A link that names what does not exist keeps its words until the person
  // chooses something else (S.badLink says what was wrong).
  if (!S.badLink) history.replaceState(null, '', pageURL(S.link));
  showFrom();
  showDownload();
  const base = S.file ? S.file.slice(S.file.lastIndexOf('/') + 1) : '';
  const where = S.group ? `${S.group} (group)` : S.host;
  document.title = (S.paused ? 'Paused · ' : '') + (base ? `${base} · ${where} — logviewer` : 'logviewer');
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

class HTTPError extends Error {
  constructor(status, msg) { super(msg); this.status = status; }
}

/** getJSON fetches a relative API URL; a 401 ends the page's identity. */
async function getJSON(url) {
  const r = await fetch(withShare(url), { cache: 'no-store' });
  const body = await r.json().catch(() => ({}));
  if (r.status === 401) identityEnded(body.error || 'sign in first', body.mode);
  if (!r.ok) throw new HTTPError(r.status, body.error || r.statusText);
  return body;
}

function option(value, text) {
  const o = document.createElement('option');
  o.value = value;
  o.textContent = text;
  return o;
}

const GROUP = 'group:'; // the value prefix of a group's option in the host picker

/** unhealthy is a host's trouble ('' when it is fine): a remote host's connection state. */
const unhealthy = (h) => (h && h.state && !['following', 'connected', 'starting'].includes(h.state.code) ? h.state.code : '');

/** groupLabel says how many members a group has and how many are healthy. */
function groupLabel(g) {
  const info = new Map(S.hostInfo.map((h) => [h.name, h]));
  const bad = g.hosts.filter((h) => unhealthy(info.get(h)));
  const n = g.hosts.length;
  return {
    text: `▦ ${g.name} (${n} host${n === 1 ? '' : 's'}, ${n - bad.length} healthy)`,
    title: `Group ${g.name}: ${g.hosts.join(', ')}` +
      (bad.length ? `. Not healthy: ${bad.map((h) => `${h} (${unhealthy(info.get(h))})`).join(', ')}` : ''),
  };
}

/**
 * loadHosts lists groups (when there are any) and hosts in the picker;
 * groups come first, in their own section, with their health.
 */
async function loadHosts() {
  const [hosts, groups] = await Promise.all([getJSON('api/hosts'), getJSON('api/groups').catch((e) => {
    if (e.status === 401) throw e;
    return []; // an older server: no groups
  })]);
  S.hostInfo = hosts;
  S.groups = groups.filter((g) => g.hosts.length);
  el.host.replaceChildren(option('', hosts.length ? (S.groups.length ? 'Choose a host or group…' : 'Choose a host…') : 'No hosts configured'));
  const hostOpts = hosts.map((h) => {
    const bad = unhealthy(h);
    const o = option(h.name, h.name + (bad === 'error' ? ' — unreachable' : bad ? ` (${bad})` : ''));
    if (bad && h.state.msg) o.title = `${h.name}: ${h.state.msg}`;
    return o;
  });
  if (S.groups.length) {
    const og = document.createElement('optgroup');
    og.label = 'Groups (one file on every member)';
    for (const g of S.groups) {
      const o = option(GROUP + g.name, '');
      o.className = 'grp';
      o.dataset.group = g.name;
      const l = groupLabel(g);
      o.textContent = l.text;
      o.title = l.title;
      og.append(o);
    }
    const oh = document.createElement('optgroup');
    oh.label = 'Hosts';
    oh.append(...hostOpts);
    el.host.append(og, oh);
  } else {
    el.host.append(...hostOpts);
  }
  S.hostsAt = Date.now();
  return { hosts: hosts.map((h) => h.name), groups: S.groups.map((g) => g.name) };
}

/** refreshHealth updates the groups' health in place (the picker may be open). */
async function refreshHealth() {
  if (!S.groups.length || Date.now() - S.hostsAt < 5000) return;
  S.hostsAt = Date.now();
  try { S.hostInfo = await getJSON('api/hosts'); } catch { return; }
  for (const o of el.host.querySelectorAll('option.grp')) {
    const g = S.groups.find((x) => x.name === o.dataset.group);
    if (!g) continue;
    const l = groupLabel(g);
    o.textContent = l.text;
    o.title = l.title;
  }
}

/** pickerValue is the picker's value for the current view. */
const pickerValue = () => (S.group ? GROUP + S.group : S.host);

function showPicked() {
  el.host.value = pickerValue();
  const o = el.host.selectedOptions[0];
  el.host.title = (o && o.title) || '';
  el.host.parentElement.classList.toggle('is-group', !!S.group);
  el.hostLbl.textContent = S.group ? 'Group' : 'Host';
}

const combo = new Combo(el.file, el.fileList, (path) => { S.file = path; S.link = null; S.from = ''; S.badLink = ''; writeURL(); connect(); });

async function loadFiles() {
  if (!S.host && !S.group) { combo.setItems([], 'Choose a host first'); return; }
  const which = pickerValue();
  if (S.filesHost !== which) combo.setItems([], 'Loading…');
  S.filesHost = which;
  S.filesErr = '';
  S.filesAt = Date.now();
  try {
    if (S.group) {
      // The union of the members' files, each saying on how many it is.
      const { files, hosts, errors } = await getJSON('api/files?group=' + encodeURIComponent(S.group));
      if (which !== pickerValue()) return;
      const failed = Object.entries(errors || {}).map(([h, msg]) => `${h} could not be listed: ${msg}`);
      combo.setItems(files.map((f) => ({
        value: f.path, label: f.path,
        meta: `on ${f.hosts}/${hosts.length} hosts · ${size(f.size)} · ${age(f.mtime)}`,
        title: (f.missing && f.missing.length ? `Missing on ${f.missing.join(', ')}` : `On every host of ${S.group}`) +
          (failed.length ? '\n' + failed.join('\n') : ''),
      })), failed.length ? failed.join('; ') : 'No files match the globs of this group\'s hosts');
      return;
    }
    const host = S.host;
    const { files } = await getJSON('api/files?host=' + encodeURIComponent(host));
    if (which !== pickerValue()) return;
    combo.setItems(files.map((f) => ({ value: f.path, label: f.path, meta: `${size(f.size)} · ${age(f.mtime)}` })),
      'No files match this host\'s globs');
  } catch (e) {
    if (e.status === 401) return;
    // Said once, where the log would be (updateEmpty); the list only points there.
    S.filesErr = e.message;
    combo.setItems([], 'Cannot list this host\'s files (see the message below)');
    updateEmpty();
  }
}

// ---- status -----------------------------------------------------------------

function setConn(kind, text, detail) {
  el.conn.dataset.state = kind;
  el.source.classList.toggle('stale', kind !== 'live'); // the source's state is last known only
  el.connText.textContent = text;
  el.conn.title = detail || '';
  // A retry can be hurried only while one is waiting.
  el.conn.disabled = !['reconnecting', 'error'].includes(kind);
  if (kind === 'live') S.wasLive = true;
  showOffline(kind, text, detail);
  setSource();
}

/**
 * showOffline puts a banner over the log while a view that was connected is
 * not: what happened, and a button to retry at once. Its text is a live
 * region, so a screen reader says that the connection was lost.
 */
function showOffline(kind, text, detail) {
  const lost = S.wasLive && kind !== 'live' && kind !== 'idle';
  el.offline.hidden = !lost;
  if (!lost) { el.offlineText.textContent = ''; return; }
  // The words change with the kind only (not with the countdown in the
  // status bar), so the alert is said once.
  const msg = kind === 'error'
    ? `The server refused this view: ${detail || text}`
    : 'Connection to the server lost: no new lines arrive. Retrying automatically…';
  if (el.offlineText.textContent !== msg) el.offlineText.textContent = msg;
  el.retry.hidden = kind === 'connecting';
}

const SOURCE = {
  starting: 'starting', following: 'following', waiting: 'waiting for the file to appear', connecting: 'connecting to host',
  reconnecting: 'host reconnecting', error: 'source error', stopped: 'stopped',
};

function setSource(st) {
  if (st) S.source = st;
  if (S.members.length) { if (!st) groupSource(); return; }
  const { code, msg } = S.source;
  let kind = code, text = SOURCE[code] || code || '';
  if (code && el.conn.dataset.state !== 'live') {
    // What the source does now is not known while disconnected.
    el.source.dataset.state = 'unknown';
    el.sourceText.textContent = 'source unknown (not connected)';
    el.source.title = `Last known: ${text}${msg ? ': ' + msg : ''}`;
    el.source.hidden = false;
    updateEmpty();
    return;
  }
  if (code === 'following' && S.rotated && Date.now() - S.rotated.at < 30000) {
    kind = 'rotated';
    text = `following · ${S.rotated.what}`;
  }
  el.source.dataset.state = kind;
  // The message is the detail (the title); "waiting" already says the file is not there.
  el.sourceText.textContent = text + (msg && code !== 'following' && code !== 'waiting' ? `: ${msg}` : '');
  el.source.title = msg || '';
  el.source.hidden = !text;
  updateEmpty();
}

// ---- a merged view's hosts ----------------------------------------------------

const CHIP_STATE = {
  starting: 'starting', following: '', waiting: 'no such file', connecting: 'connecting',
  reconnecting: 'reconnecting', error: 'error', stopped: 'stopped',
};

/** hostHidden is the view's predicate over records: a line of a host not shown. */
const hostHidden = (r) => !!r.host && (S.solo ? r.host !== S.solo : S.hide.has(r.host));
/** folded: an event (its first record) shown as its first line only. */
const folded = (h) => !h.open && h.evN > EVENT_SHOW;
/** recHidden is the view's predicate: records held but not drawn (hidden hosts, folded events). */
const recHidden = (r) => (S.hostsFiltered && hostHidden(r)) || (!!r.head && folded(r.head));

/** showHosts applies hide/solo to the view, the chips and the URL. */
function showHosts() {
  const on = S.group && (S.solo || S.hide.size);
  S.hostsFiltered = !!on;
  view.options({ hide: recHidden });
  for (const [h, c] of S.chips) {
    const shown = S.solo ? h === S.solo : !S.hide.has(h);
    c.el.classList.toggle('off', !shown);
    c.el.classList.toggle('solo', S.solo === h);
    press(c.main, shown);
    c.main.title = chipTitle(h, c);
    press(c.solo, S.solo === h);
    c.solo.setAttribute('aria-label', S.solo === h ? `Show every host again (now only ${h})` : `Show only ${h}`);
    c.solo.title = c.solo.getAttribute('aria-label');
  }
  el.chips.querySelector('.chips-all').hidden = !on;
  updateEmpty();
  writeURL();
}

/** chipTitle: the host's state with its message, and what a click does. */
function chipTitle(h, c) {
  const st = c.state || { code: 'starting' };
  const shown = S.solo ? h === S.solo : !S.hide.has(h);
  return `${h}: ${st.code}${st.msg ? ' — ' + st.msg : ''}\n` +
    `Click to ${shown ? 'hide' : 'show'} its lines; double-click or Alt+click to show only this host`;
}

/** makeChips shows a chip per member of the merged view (its hello's hosts). */
function makeChips(hosts) {
  const keep = new Map(S.chips);
  S.chips = new Map();
  const frag = document.createDocumentFragment();
  for (const h of hosts) {
    const old = keep.get(h);
    const c = old || { state: null, counts: new Array(RATE_SECONDS + 1).fill(0), sec: 0 };
    if (!old) {
      c.el = document.createElement('span');
      c.el.className = 'chip';
      c.el.dataset.host = h;
      c.main = document.createElement('button');
      c.main.type = 'button';
      c.main.className = 'chip-main';
      const dot = document.createElement('i');
      dot.className = 'dot';
      const nm = document.createElement('span');
      nm.className = 'nm ' + hostColour(h);
      nm.textContent = h;
      c.stateEl = document.createElement('span');
      c.stateEl.className = 'cst';
      c.rateEl = document.createElement('span');
      c.rateEl.className = 'crate';
      c.rateEl.textContent = '0/s';
      c.main.append(dot, nm, c.stateEl, c.rateEl);
      c.solo = document.createElement('button');
      c.solo.type = 'button';
      c.solo.className = 'chip-solo';
      c.solo.textContent = '◎';
      c.el.append(c.main, c.solo);
    }
    S.chips.set(h, c);
    frag.append(c.el);
    hostState(h, c.state || { code: 'starting' });
  }
  const all = document.createElement('button');
  all.type = 'button';
  all.className = 'btn chips-all';
  all.textContent = 'Show all hosts';
  frag.append(all);
  el.chips.replaceChildren(frag);
  el.chips.hidden = !hosts.length;
  el.lines.style.setProperty('--hostw', String(Math.max(0, ...hosts.map((h) => h.length))));
  view.render.hostW = Math.max(0, ...hosts.map((h) => h.length));
  showHosts();
}

function clearChips() {
  S.chips = new Map();
  el.chips.replaceChildren();
  el.chips.hidden = true;
}

/** hostState shows a member's state (a status frame with host). */
function hostState(h, st) {
  const c = S.chips.get(h);
  if (!c) return;
  c.state = st;
  c.el.dataset.state = st.code;
  c.stateEl.textContent = CHIP_STATE[st.code] ?? st.code;
  c.stateEl.hidden = !c.stateEl.textContent;
  c.main.title = chipTitle(h, c);
  groupSource();
}

/** groupSource sums the members' states up in the status bar. */
function groupSource() {
  const states = [...S.chips.values()].map((c) => (c.state ? c.state.code : 'starting'));
  const n = states.length;
  if (!n) return;
  const count = (code) => states.filter((x) => x === code).length;
  const worst = ['error', 'stopped', 'reconnecting', 'waiting', 'connecting', 'starting'].find((code) => count(code));
  const following = count('following');
  const troubled = [...S.chips].filter(([, c]) => c.state && !['following', 'starting'].includes(c.state.code))
    .map(([h, c]) => `${h}: ${c.state.code}${c.state.msg ? ' (' + c.state.msg + ')' : ''}`);
  setSource({ code: worst && worst !== 'starting' ? worst : following === n ? 'following' : 'starting', msg: '' });
  el.sourceText.textContent = `${following}/${n} hosts following` + (worst && worst !== 'starting' ? ` · ${count(worst)} ${SOURCE[worst] || worst}` : '');
  el.source.title = troubled.join('\n');
}

/** countHost adds live lines to a member's lines/s. */
function countHost(h, n) {
  const c = S.chips.get(h);
  if (!c) return;
  rollHost(c);
  c.counts[RATE_SECONDS] += n;
}

function rollHost(c) {
  const now = Math.floor(Date.now() / 1000);
  if (c.sec === now) return;
  const steps = Math.min(RATE_SECONDS + 1, now - c.sec);
  for (let i = 0; i < steps; i++) { c.counts.shift(); c.counts.push(0); }
  c.sec = now;
}

setInterval(() => {
  for (const c of S.chips.values()) {
    rollHost(c);
    let sum = 0;
    for (let i = 0; i < RATE_SECONDS; i++) sum += c.counts[i];
    const r = sum / RATE_SECONDS;
    c.rateEl.textContent = `${r > 0 && r < 10 ? r.toFixed(1) : short(Math.round(r))}/s`;
  }
}, 1000);

function toggleHost(h) {
  if (S.solo) {
    // Leaving solo: the others were hidden; now the clicked one changes too.
    S.hide = new Set(S.members.filter((x) => x !== S.solo));
    S.solo = '';
  }
  if (S.hide.has(h)) S.hide.delete(h); else S.hide.add(h);
  showHosts();
}

function soloHost(h) {
  S.solo = S.solo === h ? '' : h;
  if (!S.solo) S.hide.clear();
  showHosts();
}

function updateHeld() {
  updateCopy();
  let n = view.count - view.marks;
  const f = S.active;
  if (f && (f.text || f.level) && !S.members.length && S.ringN) {
    n = Object.values(S.counts).reduce((a, b) => a + b, 0); // events, not their lines
    const older = S.older.scanned ? ` + ${size(S.older.scanned)} of older lines` : '';
    el.held.textContent = `${fmt(n)} match${n === 1 ? '' : 'es'} in the last ${fmt(S.ringN)} lines held${older}` +
      (S.older.more && !S.older.scanned ? ' — scroll up to search older' : '');
  } else {
    el.held.textContent = `${fmt(n)} line${n === 1 ? '' : 's'}`;
  }
  el.held.title = view.trimmed ? `${fmt(view.trimmed)} earlier lines dropped` : '';
  updateLevels();
}

/** updateLevels shows how many lines of each level the view holds, and the level shown alone. */
function updateLevels() {
  for (const b of el.levels.children) {
    const l = b.dataset.level;
    b.querySelector('b').textContent = short(S.counts[l]);
    press(b, S.level === l);
    b.setAttribute('aria-label', `${b.querySelector('span').textContent}: ${fmt(S.counts[l])} line${S.counts[l] === 1 ? '' : 's'}` +
      (S.level === l ? ', shown alone (click to show every level)' : ' (click to show only these)'));
  }
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
  showPill();
  // The paused pill never covers the last lines: room below them, shown
  // at once (a view at the bottom moves up once, when it pauses).
  if (el.log.classList.contains('pilled') !== S.paused) {
    el.log.classList.toggle('pilled', S.paused);
    view.settle();
  }
}

function showPill() {
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

/** hostTrouble says why the chosen host cannot be used ('' when it can). */
function hostTrouble() {
  if (!S.host) return '';
  const h = S.hostInfo.find((x) => x.name === S.host);
  if (!h || unhealthy(h) !== 'error') return '';
  return `Host ${S.host} cannot be reached${h.state.msg ? ': ' + h.state.msg : ''}. Its files will be listed once it answers.`;
}

function updateEmpty() {
  const empty = view.count === 0 && !S.pending.length;
  el.empty.hidden = !empty;
  if (!empty) return;
  let msg;
  if (S.badLink) msg = S.badLink;
  else if (!S.host && !S.group) msg = S.groups.length ? 'Choose a host or a group, then a file to follow it live.' : 'Choose a host, then a file to follow it live.';
  else if (!S.file && (S.filesErr || hostTrouble())) msg = hostTrouble() || `Cannot list the files of ${S.group ? 'group ' + S.group : S.host}: ${S.filesErr}`;
  else if (!S.file) msg = 'Choose a file to follow (type to search).';
  else if (el.conn.dataset.state === 'error') msg = el.conn.title || el.connText.textContent;
  else if (S.source.code === 'waiting') msg = `Waiting for ${S.file} to appear…`;
  else if (S.active && S.active.text) msg = 'No line matches the filter yet. Matching lines will appear here as they arrive.';
  else if (el.conn.dataset.state === 'live') msg = `${S.file} is empty. New lines will appear here as they are written.`;
  else msg = 'Connecting…';
  el.empty.textContent = msg;
}

// ---- history: older lines, search back, from, download -------------------------

/**
 * newOlder is a view's history state. before is the position the next older
 * request asks before: null while not known (no hello yet, or lines held
 * that do not join what the server has), '' before the ring (no line held
 * yet); first says the first lines frame set it.
 */
function newOlder() {
  return { before: null, first: false, more: true, busy: false, scanned: 0, file: '', auto: 0, found: 0, target: '', asked: 0, error: '' };
}

/**
 * askOlder asks the server for the lines before the oldest held, when the
 * view is at its top (or, auto, when a search back or a from= older than the
 * ring goes on by itself). One request at a time.
 */
function askOlder(auto) {
  const o = S.older;
  if (o.busy || !o.more || o.before === null || !conn.open) return;
  if (!auto && view.count && el.log.scrollTop > 2 * (view.lineH || 18)) return;
  if (!auto) o.auto = 0;
  o.busy = true;
  o.asked++;
  conn.send({ type: 'older', before: o.before, n: o.target ? 5000 : OLDER_N }); // looking for one line: big pages
  showOlder();
}

/** gotOlder puts an older frame's lines above the view's first. */
function gotOlder(m) {
  const o = S.older;
  o.busy = false;
  o.more = !!m.more;
  o.scanned += m.scanned || 0;
  if (m.file) o.file = m.file;
  const ls = m.lines || [];
  if (m.more) o.before = m.next || (ls.length ? ls[0].pos : o.before);
  // Record numbers go down from the oldest held: the first line gets the lowest.
  const recs = new Array(ls.length);
  S.nLow -= ls.length;
  const heads = new Map();
  for (let i = 0; i < ls.length; i++) {
    const l = ls[i];
    const r = rec(0, l.ts || 0, l.text, '', l.host, S.nLow + i);
    link(r, l.cont, heads);
    r.pos = l.pos;
    recs[i] = r;
  }
  o.found += ls.length;
  if (recs.length) {
    flush(); // what is queued goes below, first
    view.prepend(recs);
    S.grown.clear(); // drawn as they are: folded already where long
    updateHeld();
    updateEmpty();
  }
  if (o.target) {
    const hit = recs.find((r) => r.pos === o.target);
    if (hit) {
      o.target = '';
      if (S.link && S.link.pos === hit.pos) S.link.done = true;
      view.reveal(hit.n, !o.mid);
      o.mid = false;
    } else if (o.more) {
      askOlder(true); // from= (or a linked line) is older still: page back until it is here
      return;
    } else {
      o.target = '';
      if (S.link && S.link.pos && !S.link.done) {
        S.link.done = true;
        const f = S.active && (S.active.text || S.active.level) ? ' or does not match the filter' : '';
        note(`The line of this link is not in this log any more (it may have been rotated away${f}); showing the latest lines.`, 'gap');
      }
    }
  }
  const filtered = S.active && (S.active.text || S.active.level);
  if (o.more && filtered && recs.length < 20 && o.auto < OLDER_AUTO && el.log.scrollTop < 2 * (view.lineH || 18)) {
    // A search back found little in this slice: go on by itself, a few times.
    o.auto++;
    askOlder(true);
    return;
  }
  showOlder();
}

/** showOlder says where the view's history stands, above its first line. */
function showOlder() {
  const o = S.older;
  el.older.hidden = !S.file || (o.before === null && !o.error);
  if (el.older.hidden) return;
  const filtered = S.active && (S.active.text || S.active.level);
  const where = o.file ? ` back into ${o.file}` : '';
  let msg;
  if (o.error) msg = o.error;
  else if (o.busy) msg = filtered ? `Searching older lines… searched ${size(o.scanned)}${where}, ${fmt(o.found)} match${o.found === 1 ? '' : 'es'} so far` : 'Loading older lines…';
  else if (!o.more) msg = filtered ? `Searched the whole history (${size(o.scanned)}): ${fmt(o.found)} older match${o.found === 1 ? '' : 'es'}` : 'The beginning of the log';
  else if (filtered && o.asked) msg = `Searched ${size(o.scanned)}${where}: ${fmt(o.found)} older match${o.found === 1 ? '' : 'es'}`;
  else msg = filtered ? 'Scroll up to search older lines' : 'Scroll up for older lines';
  el.olderText.textContent = msg;
  el.olderMore.hidden = !(filtered && o.more && !o.busy);
  el.olderMore.textContent = o.asked ? 'Keep searching' : 'Search older lines';
  el.older.dataset.state = o.busy ? 'busy' : o.more ? 'more' : 'done';
  updateHeld();
}

/** localInput turns a time (ISO) into a datetime-local input's value, in local time. */
function localInput(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const p = (n, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** showFrom shows the view's from= (a time) in the time picker. */
function showFrom() {
  const t = S.from && !S.from.startsWith('mark:') ? localInput(S.from) : '';
  if (document.activeElement !== el.from && el.from.value !== t) el.from.value = t;
  el.fromClear.hidden = !S.from;
  el.from.disabled = !S.file || !!SHARE;
}

/** fromPicked starts the view at the time picked (or at the latest lines when cleared). */
function fromPicked() {
  const v = el.from.value;
  const d = v ? new Date(v) : null; // datetime-local is local time
  if (d && Number.isNaN(d.getTime())) return;
  const from = d ? d.toISOString().replace('.000Z', 'Z') : '';
  if (from === S.from) return;
  S.from = from;
  S.link = null;
  writeURL();
  connect();
}

/** showDownload points the Download button at the current view (with its filter). */
function showDownload() {
  const ok = !!S.file && !!S.host && !S.group && !SHARE;
  el.download.hidden = !ok;
  if (!ok) return;
  const q = new URLSearchParams({ host: S.host, file: S.file });
  specParams(q, uiSpec());
  el.download.href = 'api/download?' + q;
  const base = S.file.slice(S.file.lastIndexOf('/') + 1);
  el.download.setAttribute('download', q.has('q') || q.has('level') ? base + '.filtered.txt' : base);
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
    S.from = ''; // the view no longer starts at the mark: it replays what matches
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

function rec(seq, ts, text, mark, host, n) {
  const r = { n: n || ++S.n, seq, ts, text, mark: mark || '', lvl: mark ? '' : level(text) };
  if (host) r.host = host;
  if (!mark) S.counts[LEVEL_OF[r.lvl]]++;
  return r;
}

/**
 * link makes r part of an event: a continuation line (cont, from the
 * server) joins the event of the last first line of its host; any other
 * line starts one. heads maps host ('' in a single view) to the event being
 * built. A continuation line takes its event's level (the stack of an ERROR
 * is tinted as one) and is not counted as a line of its own level.
 */
function link(r, cont, heads) {
  const h = heads.get(r.host || '');
  if (cont && h && !r.mark) {
    S.counts[LEVEL_OF[r.lvl]]--;
    r.lvl = h.lvl;
    r.head = h;
    h.evN = (h.evN || 0) + 1;
    h.lastN = r.n;
    S.grown.add(h);
    return;
  }
  if (r.mark) return;
  heads.set(r.host || '', r);
}

/** errorsOf counts the error events among records (for the sparkline). */
const errorsOf = (recs) => recs.filter((r) => !r.mark && !r.head && !r.ctx && (r.lvl === 'e' || r.lvl === 'f')).length;

/** foldGrown redraws the events that grew: their count, and their lines once they fold. */
function foldGrown() {
  for (const h of S.grown) {
    if (h.evN <= EVENT_SHOW) continue;
    if (!h.drawnFolded) { h.drawnFolded = true; view.refresh(h.n, h.lastN); } // it just folded
    else view.redraw(h.n);
  }
  S.grown.clear();
}

/** toggleEvent unfolds or folds an event (a click on its count). */
function toggleEvent(lineEl) {
  const n = Number(lineEl.dataset.n);
  const c = view.chunkOf(n);
  const h = c && c.recs.find((x) => x.n === n);
  if (!h || !h.evN) return;
  h.open = !h.open;
  view.refresh(h.n, h.lastN);
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
  foldGrown();
  if (S.revealN >= 0 && view.reveal(S.revealN, S.revealTop)) { S.revealN = -1; S.revealTop = false; }
  updateHeld();
  updateEmpty();
}

function clearView() {
  for (const k of Object.keys(S.counts)) S.counts[k] = 0;
  S.prevSeq = 0;
  S.heads = new Map();
  S.grown.clear();
  S.older = newOlder();
  showOlder();
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
  if (!(S.host || S.group) || !S.file) return '';
  // A share token alone names its log; the server fills in host and file.
  const q = new URLSearchParams(SHARE ? { share: SHARE } : S.group ? { group: S.group, file: S.file } : { host: S.host, file: S.file });
  specParams(q, S.active || uiSpec());
  // A shared view whose viewer cleared the shared filter says so: an empty
  // q means "no filter" to the server (no q: the shared one).
  if (SHARE && !q.has('q') && clearedShared()) q.set('q', '');
  if (S.fresh && S.from && !S.link) q.set('from', S.from);
  if (!S.fresh && S.group) {
    // Resume by the vector: each host after the last line held from it.
    const since = [], logs = [];
    for (const h of S.members) {
      if (!S.logs[h]) continue;
      logs.push(`${h}:${S.logs[h]}`);
      if (S.seqs[h] !== undefined) since.push(`${h}:${S.seqs[h]}`);
    }
    if (since.length) { q.set('since', since.join(',')); q.set('log', logs.join(',')); }
  } else if (!S.fresh) {
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
  ended: (reason) => identityEnded(reason),
  refused: (status, msg) => {
    if (status === 401) {
      identityEnded(msg);
      return false;
    }
    if (status === 404 && !S.wasLive && !view.count) {
      // A link to a file (or host) that is not there: say so for good, keep
      // the link's words, do not retry.
      S.badLink = `${cap(msg)}: it may have been renamed, rotated away or removed. Choose a file to continue.`;
      setConn('error', 'not available', msg);
      return false;
    }
    if (status === 400 && /regular expression|filter/i.test(msg)) {
      showFilterError(msg);
      S.wasLive = false; // the view was not lost: the filter is refused
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
  rate.reset(); // another log: its rate starts from nothing
  S.wasLive = false; S.ringN = 0; S.ringFirst = 1;
  S.logId = ''; S.lastSeq = 0; S.at = ''; S.fresh = true;
  S.members = []; S.logs = {}; S.seqs = {}; S.sure = new Set(); S.seenMarks = []; S.markRecs = [];
  S.fromPending = !!S.from; S.revealTop = false;
  clearChips();
  S.active = uiSpec(); S.sent = null;
  // Without a q of its own, a shared view gets the shared filter from the
  // server; the view's own ("none") is sent once it is connected.
  if (S.shared && !S.active.text && !S.active.level && (shareSpec().text || shareSpec().level) && !clearedShared()) S.active = shareSpec();
  S.source = { code: '' }; S.rotated = null; S.refused = '';
  setSource();
  showFilterError('');
  S.hostsFiltered = false;
  view.options({ re: matcher(S.active), target: -1, hide: recHidden });
  clearView();
  if (S.link && S.link.log) {
    // Resume just before the linked line, on the log session it came from.
    S.logId = S.link.log; S.lastSeq = Math.max(0, S.link.seq - LINK_CONTEXT - 1); S.fresh = false;
  }
  if (!(S.host || S.group) || !S.file) { setConn('idle', S.host || S.group ? 'no file' : 'idle'); return; }
  conn.start();
}

/** helloMerged starts (or resumes) a merged view. */
function helloMerged(m) {
  const had = view.count > 0 || S.pending.length > 0;
  if (m.v !== PROTOCOL) toast(`The server speaks protocol v${m.v}, this page v${PROTOCOL}: reload the page.`);
  setConn('live', 'connected', `${m.hosts.length} hosts`);
  S.refused = '';
  // A host whose log is the one we hold lines of: what comes again at or
  // below its seq is a repeat (a resume the server could not honour for
  // every host replays the merged stream). Any other host starts afresh.
  S.sure = new Set();
  const logs = m.logs || {};
  for (const h of m.hosts) {
    if (!logs[h]) continue; // not open yet: its log is named when it is
    if (S.logs[h] === logs[h] && S.seqs[h] !== undefined) S.sure.add(h);
    else delete S.seqs[h];
    S.logs[h] = logs[h];
  }
  S.members = m.hosts.slice();
  if (!m.resumed && had) {
    if (S.fresh) clearView();
    else if (S.sure.size < m.hosts.length) {
      note('Reconnected, but not every host could continue where it was: lines below start afresh for those hosts (some may be missing).', 'gap');
    }
  }
  makeChips(m.hosts);
  groupSource();
  // Older lines of a merged view: before "" is before what it holds; then
  // the vector each older frame names.
  if (!m.resumed && (S.fresh || !had)) { S.older.before = ''; S.older.first = true; showOlder(); }
  else if (had && S.older.before === '') {
    // Resumed on a new connection: its "" would mean before what it sent
    // (after what this page holds), and the page cannot name its own
    // oldest lines in a merged view: no paging back until a reload.
    S.older.before = null;
    showOlder();
  }
}

function handle(m) {
  switch (m.type) {
    case 'hello': {
      if (m.merged) { helloMerged(m); break; }
      const prev = S.logId;
      const had = view.count > 0 || S.pending.length > 0;
      if (m.v !== PROTOCOL) toast(`The server speaks protocol v${m.v}, this page v${PROTOCOL}: reload the page.`);
      setConn('live', 'connected', `log ${m.log}`);
      S.refused = '';
      if (S.link && !S.link.pos && !S.link.done && S.link.log !== m.log) {
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
      if (!m.resumed) S.ringFirst = m.first;
      if (m.from_at) { S.older.target = m.from_at; S.fromPending = false; }
      if (!m.resumed && (S.fresh || !had)) { S.older.before = ''; S.older.first = false; showOlder(); }
      setSource(m.state);
      if (S.shared && !S.sent && !sameSpec(S.active, uiSpec())) {
        S.sent = uiSpec();
        conn.send({ type: 'filter', ...S.sent });
      }
      break;
    }
    case 'lines': {
      const ls = m.lines;
      if (!ls.length) break;
      if (S.members.length) { mergedLines(m); break; }
      S.lastSeq = ls[ls.length - 1].seq;
      if (m.at) S.at = m.at;
      if (m.first_at && !S.older.first) { S.older.before = m.first_at; S.older.first = true; }
      S.ringN = S.lastSeq - S.ringFirst + 1; // the lines the server's filter looked at
      S.fresh = false;
      const recs = [];
      let live = 0;
      for (let i = 0; i < ls.length; i++) {
        const l = ls[i];
        if (S.active && S.active.context && S.prevSeq && l.seq !== S.prevSeq + 1 && !l.mark) {
          recs.push(rec(0, 0, '', 'sep')); // context: lines between were left out
        }
        S.prevSeq = l.seq;
        const r = rec(l.seq, l.ts, l.text, l.mark);
        if (l.pos) r.pos = l.pos;
        link(r, l.cont, S.heads);
        if (S.link && S.link.pos && !S.link.done && r.pos === S.link.pos) {
          S.link.done = true;
          S.older.target = ''; // in the ring after all
          S.revealN = r.n;
        }
        if (l.ctx) {
          r.ctx = true; // around a match, not one
          if (!r.head && !r.mark) S.counts[LEVEL_OF[r.lvl]]--;
        }
        recs.push(r);
        if (l.mark) markSeen(l.mark, r);
        else live++;
        if (S.link && !S.link.pos && !S.link.done && !r.mark && r.seq >= S.link.seq) {
          S.link.done = true;
          if (r.seq === S.link.seq) S.revealN = r.n;
          else toast(`Line #${S.link.seq} of the link does not match the current filter`);
        }
      }
      if (!m.replay) rate.add(live, errorsOf(recs));
      fromStart(recs);
      receive(recs, !!m.replay);
      if (S.link && S.link.pos && !S.link.done && !S.older.target && S.older.first) {
        // Not among the first lines: look for it further back (it may be in
        // a lines frame still to come: then the search stops).
        S.older.target = S.link.pos;
        S.older.mid = true;
      }
      if (S.older.target && !S.older.busy) askOlder(true);
      break;
    }
    case 'older':
      gotOlder(m);
      break;
    case 'gap':
      if (m.host) { S.seqs[m.host] = m.to; S.sure.delete(m.host); }
      else S.lastSeq = m.to;
      if (S.link && !S.link.pos && !S.link.done) {
        if (m.to < S.link.seq) break; // only context before the linked line is gone
        note(`Line #${S.link.seq} of the link is no longer held by the server.`);
        S.link.done = true;
      }
      S.skipped += m.to - m.from + 1;
      updateSkipped();
      if (S.lastGap && S.lastGap.seq === m.from - 1 && S.lastGap.n === S.n && S.lastGap.host === m.host) {
        // Right after another gap: one row for both.
        S.lastGap.size += m.to - m.from + 1;
        S.lastGap.seq = m.to;
        S.lastGap.text = gapText(S.lastGap.size);
        view.redraw(S.lastGap.n);
      } else {
        const r = rec(m.to, Date.now(), gapText(m.to - m.from + 1), 'gap', m.host);
        r.size = m.to - m.from + 1;
        S.lastGap = r;
        S.gapN = r.n;
        receive([r], false);
      }
      break;
    case 'status':
      if (m.host) hostState(m.host, m.state);
      else setSource(m.state);
      break;
    case 'reset':
      if (S.sent) S.active = S.sent;
      S.sent = null;
      S.fresh = true; // until the re-filtered replay arrives, a reconnect starts over
      S.seqs = {}; S.sure = new Set(); S.seenMarks = []; S.markRecs = [];
      showFilterError('');
      view.options({ re: matcher(S.active), target: -1 });
      clearView();
      S.older.before = ''; // until the new filter's first lines say where they start
      showOlder();
      break;
    case 'error':
      if (m.code && m.code.startsWith('older')) {
        S.older.busy = false;
        S.older.more = false;
        S.older.error = m.msg;
        showOlder();
      } else if (m.code === 'bad_filter') {
        S.sent = null;
        showFilterError(m.msg);
      } else {
        toast(m.msg);
      }
      break;
  }
}

/** mergedLines takes a lines frame of a merged view: every line has its host. */
function mergedLines(m) {
  const recs = [];
  for (const l of m.lines) {
    const h = l.host;
    if (S.sure.has(h) && l.seq <= S.seqs[h]) continue; // held already
    S.seqs[h] = l.seq;
    if (l.mark === 'deploy') {
      // A mark posted for a group is in every member's log: shown once.
      const k = `${l.ts}\0${l.text}`;
      if (S.seenMarks.includes(k)) continue;
      S.seenMarks.push(k);
      if (S.seenMarks.length > 256) S.seenMarks.shift();
    }
    const r = rec(l.seq, l.ts, l.text, l.mark, h);
    link(r, l.cont, S.heads);
    if (l.mark) markSeen(l.mark, r);
    else if (!m.replay) countHost(h, 1);
    recs.push(r);
  }
  S.fresh = false;
  if (!m.replay) rate.add(recs.filter((r) => !r.mark).length, errorsOf(recs));
  fromStart(recs);
  receive(recs, !!m.replay);
}

/** fromStart: a view opened at a deploy mark (from=) starts there, at the top. */
function fromStart(recs) {
  if (!S.fromPending || !recs.length) return;
  S.fromPending = false;
  const at = recs.find((r) => r.mark === 'deploy') || recs[0];
  S.revealN = at.n;
  S.revealTop = true;
}

function markSeen(mark, r) {
  if (mark === 'deploy') { deployMark(r); return; }
  if (S.group) return; // a member's rotation shows as its marker line
  if (mark === 'rotated' || mark === 'truncated') {
    S.rotated = { at: Date.now(), what: mark };
    setSource();
    setTimeout(() => setSource(), 30500);
  }
}

// ---- deploy marks -----------------------------------------------------------------

const markKey = (ts, text) => `${ts}\0${text}`;

/** deployMark fills in who posted a mark and its id (for a link), listing the marks when it is not known yet. */
function deployMark(r) {
  const info = S.markInfo.get(markKey(r.ts, r.text));
  if (info) { r.by = info.by; r.id = info.id; return; }
  S.markRecs.push(r);
  if (S.marksTimer) return;
  S.marksTimer = setTimeout(listMarks, Math.max(0, S.marksAt + MARKS_EVERY - Date.now()));
}

async function listMarks() {
  S.marksAt = Date.now();
  const q = S.group ? 'group=' + encodeURIComponent(S.group) : 'host=' + encodeURIComponent(S.host);
  let list = [];
  try { list = await getJSON('api/marks?' + q); } catch { /* shown without who */ }
  S.marksTimer = 0;
  for (const m of list) S.markInfo.set(markKey(m.ts, m.text), { by: m.by || '', id: m.id });
  const waiting = S.markRecs;
  S.markRecs = [];
  for (const r of waiting) {
    const info = S.markInfo.get(markKey(r.ts, r.text));
    if (!info) continue;
    r.by = info.by;
    r.id = info.id;
    view.redraw(r.n);
  }
}

/** copyMarkLink copies a link that opens this view at the deploy mark. */
async function copyMarkLink(lineEl) {
  const id = lineEl.dataset.mark;
  if (!id || SHARE) return;
  const q = new URLSearchParams();
  if (S.group) q.set('group', S.group); else q.set('host', S.host);
  q.set('file', S.file);
  q.set('from', 'mark:' + id);
  const url = new URL(location.pathname + '?' + q, location.href).href;
  try {
    await navigator.clipboard.writeText(url);
    toast('Link to this log from the deploy mark copied');
  } catch {
    toast(url);
  }
}

// ---- line links -------------------------------------------------------------------

async function copyLink(lineEl) {
  const seq = Number(lineEl.dataset.seq), n = Number(lineEl.dataset.n);
  const host = lineEl.dataset.host;
  if (host) {
    // A line of a merged view: the link opens its host's own view at it.
    const pos = lineEl.dataset.pos;
    if (!pos && (!seq || !S.logs[host])) return;
    const q = new URLSearchParams(pos ? { host, file: S.file, at: pos } : { host, file: S.file, line: String(seq), log: S.logs[host] });
    const url = new URL(location.pathname + '?' + q, location.href).href;
    try {
      await navigator.clipboard.writeText(url);
      toast(`Link to this line on ${host} copied`);
    } catch {
      toast(url);
    }
    return;
  }
  const pos = lineEl.dataset.pos;
  if (pos) {
    // The line's place in the file: the link outlives this server process.
    S.link = { pos, done: true };
  } else if (seq && S.logId) {
    S.link = { seq, log: S.logId, done: true };
  } else {
    return;
  }
  writeURL();
  for (const t of el.lines.querySelectorAll('.ln.target')) t.classList.remove('target');
  lineEl.classList.add('target');
  view.render.target = n;
  const url = location.href;
  try {
    await navigator.clipboard.writeText(url);
    toast('Link to this line copied');
  } catch {
    toast('Link to this line is in the address bar');
  }
}

// ---- copy, time, mark now, text size -------------------------------------------------

/**
 * heldText is the text of every line the view holds (markers and notes
 * aside; a hidden host's lines too are left out, a folded event's are not),
 * or, with recs, of those records' events whole. ANSI escapes are removed.
 */
function heldText(only) {
  const out = [];
  const add = (r) => {
    if (r.mark || (S.hostsFiltered && hostHidden(r))) return;
    const t = strip(r.text);
    out.push(S.group && r.host ? `${r.host} ${t}` : t);
  };
  if (only) {
    for (const r of only) add(r);
  } else {
    for (const c of view.chunks) for (const r of c.recs) add(r);
  }
  return out;
}

/** selectedRecords: the records of the lines in the selection, with their events whole. */
function selectedRecords() {
  const sel = getSelection();
  if (!sel || sel.isCollapsed || !el.lines.contains(sel.anchorNode)) return null;
  const ns = new Set();
  for (const e of el.lines.querySelectorAll('.ln')) if (sel.containsNode(e, true)) ns.add(Number(e.dataset.n));
  if (!ns.size) return null;
  const out = [];
  for (const c of view.chunks) {
    for (const r of c.recs) {
      const h = r.head || r;
      if (ns.has(r.n) || ns.has(h.n)) out.push(r);
    }
  }
  return out;
}

async function copyLines() {
  const sel = selectedRecords();
  const lines = heldText(sel);
  const n = lines.length;
  try {
    await navigator.clipboard.writeText(lines.join('\n') + (n ? '\n' : ''));
    toast(`${fmt(n)} line${n === 1 ? '' : 's'} copied${sel ? ' (the selected events)' : ''}`);
  } catch (e) {
    toast(`Could not copy: ${e.message || e}`);
  }
}

function updateCopy() {
  const n = view.count - view.marks;
  el.copy.setAttribute('aria-label', `Copy ${fmt(n)} line${n === 1 ? '' : 's'}`);
  el.copy.title = `Copy the ${fmt(n)} line${n === 1 ? '' : 's'} this view holds (with a selection: the selected events whole)`;
}

// The time column: off, the line's time (its own, else its arrival), or relative.
const TIME_MODES = ['', 'abs', 'rel'];
function setTime(mode) {
  el.time.dataset.mode = mode;
  press(el.time, !!mode);
  el.time.title = mode === 'abs' ? 'Times are the lines\' own (else their arrival): click for relative times (t)'
    : mode === 'rel' ? 'Relative times: click to hide the times (t)' : 'Show each line\'s time: its own, else when it arrived (t)';
  el.log.classList.toggle('timed', !!mode);
  setPref('time', mode);
  view.options({ time: mode });
}
setInterval(() => { if (view.render.time === 'rel') view.repaint(); }, 5000); // "5 s ago" moves on

/** markNow puts a divider after the last line, in this page only. */
function markNow() {
  const now = Date.now();
  receive([rec(0, now, 'marked', 'local')], true);
  view.bottom();
  toast('Marked: the divider is after the last line');
}

const FONTS = [12, 13, 15, 17];
function setFont(px) {
  document.documentElement.style.setProperty('--log-font', px + 'px');
  el.font.title = `Text size ${px}px: click for ${FONTS[(FONTS.indexOf(px) + 1) % FONTS.length]}px (+)`;
  setPref('font', String(px));
  view.options({});
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
  view.options({}); // colours from the log (ANSI) are adapted to the theme: draw them again
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
    if (el.help.open || el.shareDlg.open || S.gated) return;
    if (t === el.filter || !typing(t)) {
      if (el.filter.value) { el.filter.value = ''; filterChanged(true); }
      else if (t === el.filter) el.filter.blur();
      e.preventDefault();
    }
    return;
  }
  if (typing(t) || el.help.open || el.shareDlg.open || S.gated) return;
  if (e.key === ' ' && t instanceof HTMLButtonElement) return; // the button's own action
  switch (e.key) {
    case '/': el.filter.focus(); el.filter.select(); break;
    case ' ': setPaused(!S.paused); break;
    case 'g': view.top(); break;
    case 'G': view.bottom(); break;
    case 'w': el.wrap.click(); break;
    case 'j': el.json.click(); break;
    case 't': el.time.click(); break;
    case 'm': markNow(); break;
    case '+': el.font.click(); break;
    case '?': el.help.showModal(); break;
    default: return;
  }
  e.preventDefault();
}

// ---- wiring ----------------------------------------------------------------------------

/** showSpec puts a filter (text, flags, level, context) into the controls. */
function showSpec(f) {
  S.level = f.level || '';
  const n = f.context || 0;
  el.ctx.value = String(n);
  if (el.ctx.value !== String(n)) { // not one of the choices: offer it
    el.ctx.append(option(String(n), `±${n}`));
    el.ctx.value = String(n);
  }
  el.filter.value = f.text;
  press(el.re, f.regex); press(el.cas, f.case); press(el.inv, f.invert);
}

async function start() {
  const q = new URLSearchParams(location.search);
  showSpec(specOf(q));
  const line = Number(q.get('line'));
  if (q.get('at')) S.link = { pos: q.get('at') }; // a line by its place in the file
  else if (line > 0 && q.get('log')) S.link = { seq: line, log: q.get('log') }; // older links: by seq

  press(el.wrap, pref('wrap', innerWidth < 640 ? '1' : '0') === '1'); // phones wrap unless told otherwise
  press(el.json, pref('json', '0') === '1');
  el.log.classList.toggle('wrap', pressed(el.wrap));
  view.options({ wrap: pressed(el.wrap), json: pressed(el.json) });
  showTheme();
  dark.addEventListener('change', showTheme);

  el.host.addEventListener('change', async () => {
    const o = el.host.selectedOptions[0];
    S.group = (o && o.dataset.group) || '';
    S.host = S.group ? '' : el.host.value;
    S.file = ''; S.link = null; S.from = ''; S.badLink = '';
    S.hide = new Set(); S.solo = '';
    showPicked();
    combo.set('');
    writeURL();
    connect();
    await loadFiles();
    if (S.host || S.group) el.file.focus();
  });
  // Health and sizes and ages go stale: list them again when a picker is reopened.
  el.host.addEventListener('focus', refreshHealth);
  el.file.addEventListener('focus', () => { if ((S.host || S.group) && Date.now() - S.filesAt > 5000) loadFiles(); });
  // Host chips: click hides or shows a host's lines; double-click,
  // Alt+click or the ◎ button shows that host alone.
  el.chips.addEventListener('click', (e) => {
    if (e.target.closest('.chips-all')) { S.solo = ''; S.hide.clear(); showHosts(); return; }
    const chip = e.target.closest('.chip');
    if (!chip) return;
    const h = chip.dataset.host;
    if (e.target.closest('.chip-solo') || e.altKey) soloHost(h);
    else if (e.detail < 2) toggleHost(h); // the second click of a double-click is the dblclick's
  });
  el.chips.addEventListener('dblclick', (e) => {
    const chip = e.target.closest('.chip');
    if (!chip || e.target.closest('.chip-solo')) return;
    // The first click hid the host: solo shows it alone (whatever it was).
    S.hide.delete(chip.dataset.host);
    S.solo = chip.dataset.host;
    showHosts();
  });
  el.filter.addEventListener('input', () => filterChanged(false));
  el.filter.addEventListener('keydown', (e) => { if (e.key === 'Enter') filterChanged(true); });
  el.ctx.addEventListener('change', () => filterChanged(true));
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
  el.retry.addEventListener('click', () => { if (!conn.soon()) connect(); });
  el.levels.addEventListener('click', (e) => {
    const b = e.target.closest('.lv');
    if (!b) return;
    S.level = S.level === b.dataset.level ? '' : b.dataset.level;
    updateLevels();
    filterChanged(true);
  });
  el.from.addEventListener('change', fromPicked);
  el.copy.addEventListener('click', copyLines);
  el.markNow.addEventListener('click', markNow);
  el.time.addEventListener('click', () => setTime(TIME_MODES[(TIME_MODES.indexOf(el.time.dataset.mode || '') + 1) % TIME_MODES.length]));
  el.font.addEventListener('click', () => {
    const cur = Number(pref('font', '13'));
    setFont(FONTS[(FONTS.indexOf(cur) + 1) % FONTS.length]);
  });
  const f0 = Number(pref('font', '13'));
  if (FONTS.includes(f0) && f0 !== 13) setFont(f0);
  const t0 = pref('time', '');
  if (TIME_MODES.includes(t0) && t0) setTime(t0);
  $('more').addEventListener('click', (e) => {
    const on = !document.body.classList.contains('more');
    document.body.classList.toggle('more', on);
    e.currentTarget.setAttribute('aria-expanded', String(on));
  });
  el.fromClear.addEventListener('click', () => { el.from.value = ''; fromPicked(); });
  el.olderMore.addEventListener('click', () => { S.older.auto = 0; askOlder(true); });
  el.skipped.addEventListener('click', () => { if (S.gapN >= 0) view.reveal(S.gapN); });
  el.lines.addEventListener('click', (e) => {
    const ev = e.target.closest('.ev');
    if (ev) { toggleEvent(ev.parentElement); return; }
    const g = e.target.closest('.gut');
    if (g) copyLink(g.parentElement);
    const d = e.target.closest('.ln.deploy');
    if (d) copyMarkLink(d);
  });
  // A mouse click leaves focus on the button; give it back so space pauses.
  document.addEventListener('click', (e) => {
    const b = e.target.closest('button');
    if (b && e.detail > 0 && !b.closest('dialog')) b.blur();
  });
  document.addEventListener('keydown', keydown);

  el.share.addEventListener('click', openShare);
  el.shareMake.addEventListener('click', makeShare);
  el.shareCopy.addEventListener('click', copyShare);
  el.shareDlg.addEventListener('click', (e) => { if (e.target === el.shareDlg || e.target.closest('.close')) el.shareDlg.close(); });
  el.signin.addEventListener('submit', signIn);
  el.signout.addEventListener('click', signOut);

  if (await identify()) await boot();
}

/** boot sets up the view the URL names, once the server knows who is asking. */
async function boot() {
  if (S.shared) {
    // The one log of the share: no pickers, a banner saying what this is.
    S.host = S.shared.host;
    S.file = S.shared.file;
    if (!new URLSearchParams(location.search).has('q')) {
      showSpec(shareSpec());
      updateLevels();
    }
    writeURL();
    S.booted = true;
    connect();
    return;
  }
  const q = new URLSearchParams(location.search);
  let hosts = [], groups = [];
  try {
    ({ hosts, groups } = await loadHosts());
  } catch (e) {
    if (e.status !== 401) setConn('error', 'cannot load hosts', e.message);
    return;
  }
  const wantGroup = q.get('group') || '';
  const want = q.get('host') || '';
  S.group = groups.includes(wantGroup) ? wantGroup : '';
  S.host = S.group || wantGroup ? '' : hosts.includes(want) ? want : hosts.length === 1 && !groups.length ? hosts[0] : '';
  if (wantGroup && !S.group) S.badLink = `This link names a group “${wantGroup}”, but the server has no group of that name: it may have been renamed or removed. Choose a host or group to continue.`;
  else if (want && !S.host && !S.group) S.badLink = `This link names a host “${want}”, but the server has no host of that name: it may have been renamed or removed. Choose a host to continue.`;
  showPicked();
  S.file = S.host || S.group ? q.get('file') || '' : '';
  const list = (k) => q.getAll(k).flatMap((v) => v.split(',')).filter(Boolean);
  S.hide = new Set(S.group ? list('hide') : []);
  S.solo = S.group ? q.get('solo') || '' : '';
  S.from = S.file ? q.get('from') || '' : '';
  combo.set(S.file);
  writeURL();
  S.booted = true; // from now on, signing in again resumes this view
  if (S.badLink) { S.file = ''; combo.set(''); updateEmpty(); return; }
  connect();
  await loadFiles();
  if ((S.host || S.group) && !S.file && document.activeElement === document.body) el.file.focus();
}

// ---- identity ------------------------------------------------------------------------------

/** clearedShared: the page's URL says the shared filter was cleared (q=). */
const clearedShared = () => new URLSearchParams(location.search).has('q') && !new URLSearchParams(location.search).get('q');
const shareSpec = () => ({
  text: S.shared.q || '', regex: !!S.shared.re, case: !!S.shared.case, invert: !!S.shared.inv,
  level: S.shared.level || '', context: S.shared.context || 0,
});

function when(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

const cap = (msg) => msg.charAt(0).toUpperCase() + msg.slice(1);

/**
 * identify asks the server who this page is. It returns false when nobody
 * (the sign-in form or the reason is shown instead).
 */
async function identify() {
  let r, body;
  try {
    r = await fetch(withShare('api/me'), { cache: 'no-store' });
    body = await r.json().catch(() => ({}));
  } catch {
    setConn('error', 'server unreachable', 'The server did not answer: reload the page to try again.');
    return false;
  }
  if (r.status === 401) {
    identityEnded(body.error || 'sign in first', body.mode);
    return false;
  }
  if (!r.ok) {
    setConn('error', 'cannot sign in', body.error || `HTTP ${r.status}`);
    return false;
  }
  S.me = body;
  S.shared = body.share || null;
  showIdentity();
  return true;
}

function showIdentity() {
  const me = S.me;
  const session = me.via === 'password' || me.via === 'oidc';
  el.who.hidden = !(session || me.via === 'proxy');
  el.whoName.textContent = me.user;
  el.who.title = `Signed in as ${me.user}` + (me.groups && me.groups.length ? ` (${me.groups.join(', ')})` : '');
  el.signout.hidden = !session;
  // Mode none has no share links (everyone sees everything), and a shared
  // view or a machine token cannot make them.
  el.share.hidden = me.mode === 'none' || me.via === 'share' || me.via === 'token';
  document.body.classList.toggle('shared', !!S.shared);
  el.banner.hidden = !S.shared;
  if (S.shared) {
    el.banner.replaceChildren('Shared view of ', bold(S.shared.file), ' on ', bold(S.shared.host),
      ', read-only', me.expires ? `, expires ${when(me.expires)}` : '', '.');
  }
}

function bold(text) {
  const b = document.createElement('b');
  b.textContent = text;
  return b;
}

/** gate covers the page with the sign-in form or an end message (which: '' uncovers). */
function gate(which) {
  S.gated = !!which;
  el.gate.hidden = !which;
  el.signin.hidden = which !== 'signin';
  el.ended.hidden = which !== 'ended';
  for (const e of [document.querySelector('header.top'), el.log, document.querySelector('footer.status'), el.pill]) e.inert = !!which;
  if (which && el.shareDlg.open) el.shareDlg.close();
  if (which && el.help.open) el.help.close();
}

// Why a view ended, as the server says it (a 4001 close reason or a 401 body).
const ENDED = {
  'signed out': 'You signed out (in this tab or another). Sign in to continue where you were.',
  'session expired': 'Your session expired. Sign in to continue where you were.',
};

/**
 * identityEnded stops the view because the server no longer knows who this
 * is: a shared view says why for good (a link does not come back to life);
 * otherwise the sign-in form shows, and signing in resumes the view.
 */
function identityEnded(reason, mode) {
  conn.stop();
  setConn('idle', 'signed out', reason);
  if (SHARE) {
    const expired = /expired/i.test(reason);
    el.endedTitle.textContent = expired ? 'This share link has expired' : 'This share link does not work';
    el.endedMsg.textContent = reason === 'share link expired'
      ? 'The link this view was opened with has expired: ask whoever shared it for a new one.'
      : cap(reason) + (/[.!]$/.test(reason) ? '' : '.');
    gate('ended');
    document.title = 'Share link ended — logviewer';
    return;
  }
  if (S.gated && !el.signin.hidden) return; // already asking
  S.me = null;
  const why = ENDED[reason] || (S.booted && reason !== 'sign in first' ? cap(reason) + '.' : '');
  el.signinWhy.textContent = why;
  el.signinWhy.hidden = !why;
  showSigninError('');
  el.signinBtn.disabled = false;
  el.signinBtn.textContent = 'Sign in';
  if (mode === 'oidc') showOIDC();
  else if (mode === 'proxy') {
    el.endedTitle.textContent = 'Not signed in';
    el.endedMsg.textContent = 'The proxy in front of logviewer signs you in: sign in there, then reload this page.';
    gate('ended');
    return;
  }
  gate('signin');
  (el.user.value ? el.password : el.user).focus();
}

function showSigninError(msg) {
  el.signinErr.textContent = msg;
  el.signinErr.hidden = !msg;
  if (msg) el.password.setAttribute('aria-invalid', 'true'); else el.password.removeAttribute('aria-invalid');
}

/** showOIDC replaces the password fields by a link to the identity provider. */
function showOIDC() {
  // The link is relative to the page; next (where the server sends the
  // browser back to: this very view) is the path the browser is at, base
  // path included, which the server accepts only under its base path.
  el.oidc.href = 'auth/oidc/login?next=' + encodeURIComponent(location.pathname + location.search);
  el.oidc.hidden = false;
  el.signinFields.hidden = true;
  el.signinWhy.textContent = 'This server signs you in through your organisation\'s identity provider.';
  el.signinWhy.hidden = false;
  el.oidc.focus();
}

let retryTimer = 0;
async function signIn(e) {
  e.preventDefault();
  if (el.signinBtn.disabled) return;
  showSigninError('');
  el.signinBtn.disabled = true;
  let r, body = {};
  try {
    r = await fetch('api/login', {
      method: 'POST', cache: 'no-store', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ user: el.user.value, password: el.password.value }),
    });
    if (r.status !== 204) body = await r.json().catch(() => ({}));
  } catch {
    showSigninError('The server did not answer: try again.');
    el.signinBtn.disabled = false;
    return;
  }
  if (r.status === 204) {
    el.password.value = '';
    el.signinBtn.disabled = false;
    await signedIn();
    return;
  }
  if (r.status === 404) { // no password sign-in here: OIDC
    showOIDC();
    return;
  }
  if (r.status === 429) {
    // Rate-limited: say so, and keep the button off until the wait is over.
    const due = Date.now() + 1000 * (Number(r.headers.get('Retry-After')) || 10);
    showSigninError('Too many failed sign-ins: wait a little before trying again.');
    const tick = () => {
      const left = Math.ceil((due - Date.now()) / 1000);
      if (left <= 0) {
        clearInterval(retryTimer);
        el.signinBtn.disabled = false;
        el.signinBtn.textContent = 'Sign in';
        return;
      }
      el.signinBtn.textContent = `Try again in ${left}s`;
    };
    clearInterval(retryTimer);
    retryTimer = setInterval(tick, 1000);
    tick();
    return;
  }
  el.signinBtn.disabled = false;
  showSigninError(cap(body.error || `Sign-in failed (HTTP ${r.status})`) + '.');
  el.password.focus();
  el.password.select();
}

/** signedIn continues: to the URL's view the first time, else where the view was. */
async function signedIn() {
  if (!await identify()) return;
  gate('');
  if (!S.booted) {
    await boot();
    return;
  }
  // The same view, resumed after its last line (log + since): no hole.
  // Another user may see other hosts: list them again.
  try {
    await loadHosts();
    showPicked(); // a host or group this user may not see shows as none; the server says why
  } catch (e) {
    if (e.status !== 401) setConn('error', 'cannot load hosts', e.message);
    return;
  }
  if ((S.host || S.group) && S.file) conn.start();
  else setConn('idle', S.host || S.group ? 'no file' : 'idle');
  S.filesHost = '';
  loadFiles();
}

async function signOut() {
  conn.stop(); // the view ends now, whatever the network does
  try {
    await fetch('api/logout', { method: 'POST', cache: 'no-store', headers: { 'Content-Type': 'application/json' }, body: '{}' });
  } catch { /* the cookie stays; the form shows anyway */ }
  identityEnded('signed out');
}

// ---- share links -------------------------------------------------------------------------------

function openShare() {
  if (S.group) {
    toast('A share link shows one host\'s log: to share this group\'s view with people who can sign in, copy the page address');
    return;
  }
  if (!S.host || !S.file) {
    toast('Choose a file first: a link shares one log');
    return;
  }
  const f = uiSpec();
  const only = f.level ? `${f.level.split(',').join(' and ')} lines` : '';
  const what = [f.text ? `filtered by “${f.text}”` : '', only ? `showing only ${only}` : '',
    (f.text || f.level) && f.context ? `with ${f.context} line${f.context === 1 ? '' : 's'} of context` : ''].filter(Boolean).join(', ');
  el.shareWhat.textContent = `Anyone with the link sees ${S.file} on ${S.host}` +
    (what ? `, ${what}` : '') + ', live and read-only, without signing in, until it expires.';
  el.shareOut.hidden = true;
  el.shareURL.value = '';
  showShareError('');
  el.shareMake.disabled = false;
  el.shareDlg.showModal();
}

function showShareError(msg) {
  el.shareErr.textContent = msg;
  el.shareErr.hidden = !msg;
}

async function makeShare() {
  const f = uiSpec();
  const ttl = el.shareDlg.querySelector('input[name=ttl]:checked').value;
  showShareError('');
  el.shareMake.disabled = true;
  try {
    const r = await fetch('api/share', {
      method: 'POST', cache: 'no-store', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        host: S.host, file: S.file, q: f.text, re: f.regex, case: f.case, inv: f.invert,
        level: f.level, context: f.text || f.level ? f.context : 0, ttl,
      }),
    });
    const body = await r.json().catch(() => ({}));
    if (r.status === 401) { identityEnded(body.error || 'sign in first', body.mode); return; }
    if (!r.ok) { showShareError(cap(body.error || `HTTP ${r.status}`)); return; }
    el.shareURL.value = body.url;
    el.shareExp.textContent = el.shareExp.dataset.expires = `Expires ${when(body.expires)}.`;
    el.shareOut.hidden = false;
    el.shareURL.focus();
    el.shareURL.select();
  } catch {
    showShareError('The server did not answer: try again.');
  } finally {
    el.shareMake.disabled = false;
  }
}

async function copyShare() {
  const u = el.shareURL.value;
  let ok = false;
  try {
    await navigator.clipboard.writeText(u);
    ok = true;
  } catch {
    // No clipboard API (plain http on another name) or no permission: copy
    // the selected text the old way.
    el.shareURL.focus();
    el.shareURL.select();
    try { ok = document.execCommand('copy'); } catch { ok = false; }
  }
  el.shareCopy.textContent = ok ? 'Copied' : 'Copy';
  if (!ok) el.shareExp.textContent = `${el.shareExp.dataset.expires} Press Ctrl+C (⌘C) to copy the selected link.`;
  setTimeout(() => { el.shareCopy.textContent = 'Copy'; }, 2000);
}

start();
