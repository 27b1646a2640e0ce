// logviewer browser client. Protocol: README.md, "Protocol". Log text is only
// ever inserted with textContent / text nodes, never as HTML.

const MAX_DOM = 5000;      // line nodes kept in the page
const MAX_KEPT = 100000;   // lines kept in memory (pause never discards below this)

const $ = (id) => document.getElementById(id);
const el = {
  host: $('host'), file: $('file'), status: $('status'), statusText: $('status-text'),
  filter: $('filter'), re: $('re'), cas: $('case'), inv: $('inv'), pause: $('pause'),
  pending: $('pending'), filterError: $('filter-error'), log: $('log'), lines: $('lines'),
  trimmed: $('trimmed'), empty: $('empty'),
};

const state = {
  ws: null, logId: '', lastSeq: 0, at: '', retry: 0, retryTimer: 0,
  paused: false, pending: [], kept: 0, trimmed: 0, follow: true, matcher: null,
};

// ---- URL: the share link ------------------------------------------------
function readURL() {
  const q = new URLSearchParams(location.search);
  return { host: q.get('host') || '', file: q.get('file') || '', q: q.get('q') || '',
    re: q.get('re') === '1', cas: q.get('case') === '1', inv: q.get('inv') === '1' };
}

function writeURL() {
  const q = new URLSearchParams();
  if (el.host.value) q.set('host', el.host.value);
  if (el.file.value) q.set('file', el.file.value);
  if (el.filter.value) q.set('q', el.filter.value);
  if (el.re.checked) q.set('re', '1');
  if (el.cas.checked) q.set('case', '1');
  if (el.inv.checked) q.set('inv', '1');
  const s = q.toString();
  history.replaceState(null, '', s ? '?' + s : location.pathname);
}

// ---- hosts and files ------------------------------------------------------
async function getJSON(url) {
  const r = await fetch(url);
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

function option(value, text) {
  const o = document.createElement('option');
  o.value = value; o.textContent = text;
  return o;
}

function size(n) {
  const u = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + ' ' + u[i];
}

function age(iso) {
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return Math.floor(s) + 's ago';
  if (s < 3600) return Math.floor(s / 60) + 'm ago';
  if (s < 86400) return Math.floor(s / 3600) + 'h ago';
  return Math.floor(s / 86400) + 'd ago';
}

async function loadHosts(want) {
  const hosts = await getJSON('/api/hosts');
  el.host.replaceChildren(option('', '— host —'));
  for (const h of hosts) {
    const st = h.state && h.state.code !== 'following' && h.state.code !== 'connected' ? ` (${h.state.code})` : '';
    el.host.append(option(h.name, h.name + st));
  }
  if (want && hosts.some((h) => h.name === want)) el.host.value = want;
  else if (hosts.length === 1) el.host.value = hosts[0].name;
}

async function loadFiles(want) {
  el.file.replaceChildren(option('', '— file —'));
  if (!el.host.value) return;
  try {
    const { files } = await getJSON('/api/files?host=' + encodeURIComponent(el.host.value));
    for (const f of files) el.file.append(option(f.path, `${f.path}  ·  ${size(f.size)}  ·  ${age(f.mtime)}`));
    if (want && files.some((f) => f.path === want)) el.file.value = want;
    else if (want) setStatus('error', `${want} is not served by ${el.host.value}`);
  } catch (e) {
    setStatus('error', 'cannot list files: ' + e.message);
  }
}

// ---- status ---------------------------------------------------------------
function setStatus(kind, text) {
  el.status.dataset.state = kind;
  el.statusText.textContent = text;
}

function sourceStatus(st) {
  if (!st) return;
  if (st.code === 'following' || st.code === 'starting') setStatus('live', 'live · ' + st.code);
  else if (st.code === 'error') setStatus('error', st.msg || 'source error');
  else setStatus(st.code === 'reconnecting' || st.code === 'waiting' ? 'waiting' : 'live', st.msg || st.code);
}

// ---- filter ---------------------------------------------------------------
function filterSpec() {
  return { text: el.filter.value, regex: el.re.checked, case: el.cas.checked, invert: el.inv.checked };
}

function buildMatcher() {
  const f = filterSpec();
  state.matcher = null;
  if (!f.text || f.invert) return;
  try {
    const src = f.regex ? f.text : f.text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const re = new RegExp(src, f.cas ? 'g' : 'gi');
    state.matcher = re;
  } catch { /* the server reports bad expressions */ }
}

let filterTimer = 0;
function filterChanged() {
  clearTimeout(filterTimer);
  filterTimer = setTimeout(() => {
    writeURL();
    buildMatcher();
    el.filterError.hidden = true;
    el.filter.removeAttribute('aria-invalid');
    if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify({ type: 'filter', ...filterSpec() }));
  }, 150);
}

// ---- rendering ------------------------------------------------------------
function lineNode(l) {
  const d = document.createElement('div');
  d.dataset.seq = l.seq;
  if (l.mark) {
    d.className = 'marker';
    d.textContent = '— ' + l.text + ' —';
    return d;
  }
  const re = state.matcher;
  if (!re) { d.textContent = l.text; return d; }
  re.lastIndex = 0;
  let last = 0, m;
  while ((m = re.exec(l.text)) !== null) {
    if (m[0] === '') { re.lastIndex++; continue; }
    if (m.index > last) d.append(l.text.slice(last, m.index));
    const mk = document.createElement('mark');
    mk.textContent = m[0];
    d.append(mk);
    last = m.index + m[0].length;
  }
  if (last < l.text.length) d.append(l.text.slice(last));
  return d;
}

function atBottom() {
  return el.log.scrollHeight - el.log.scrollTop - el.log.clientHeight < 4;
}

function render(lines) {
  if (!lines.length) return;
  el.empty.hidden = true;
  const frag = document.createDocumentFragment();
  const from = Math.max(0, lines.length - MAX_DOM);
  state.trimmed += from;
  for (let i = from; i < lines.length; i++) frag.append(lineNode(lines[i]));
  el.lines.append(frag);
  let extra = el.lines.childElementCount - MAX_DOM;
  if (extra > 0) {
    state.trimmed += extra;
    while (extra-- > 0) el.lines.firstElementChild.remove();
  }
  el.trimmed.hidden = state.trimmed === 0;
  el.trimmed.textContent = `${state.trimmed} earlier lines are not shown (the page keeps the last ${MAX_DOM}).`;
  if (state.follow) el.log.scrollTop = el.log.scrollHeight;
}

function note(cls, text) {
  const d = document.createElement('div');
  d.className = cls;
  d.textContent = text;
  el.lines.append(d);
  if (state.follow) el.log.scrollTop = el.log.scrollHeight;
}

function clearView() {
  el.lines.replaceChildren();
  state.pending = [];
  state.trimmed = 0;
  el.trimmed.hidden = true;
  updatePending();
}

function updatePending() {
  el.pending.hidden = !state.paused;
  el.pending.textContent = state.pending.length ? `${state.pending.length} new lines` : 'paused';
}

function receive(lines) {
  if (state.paused) {
    state.pending.push(...lines);
    if (state.pending.length > MAX_KEPT) state.pending.splice(0, state.pending.length - MAX_KEPT);
    updatePending();
    return;
  }
  render(lines);
}

function setPaused(p) {
  state.paused = p;
  el.pause.textContent = p ? 'Resume' : 'Pause';
  el.pause.setAttribute('aria-pressed', String(p));
  if (!p) {
    const lines = state.pending;
    state.pending = [];
    render(lines);
  }
  updatePending();
}

// ---- connection -----------------------------------------------------------
function wsURL() {
  const q = new URLSearchParams({ host: el.host.value, file: el.file.value });
  const f = filterSpec();
  if (f.text) q.set('q', f.text);
  if (f.regex) q.set('re', '1');
  if (f.case) q.set('case', '1');
  if (f.invert) q.set('inv', '1');
  if (state.logId) { q.set('log', state.logId); q.set('since', String(state.lastSeq)); }
  if (state.at) q.set('at', state.at);
  return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws?' + q;
}

function disconnect() {
  clearTimeout(state.retryTimer);
  if (state.ws) { state.ws.onclose = null; state.ws.close(); state.ws = null; }
}

function connect(fresh) {
  disconnect();
  if (!el.host.value || !el.file.value) { setStatus('idle', 'idle'); return; }
  if (fresh) { state.logId = ''; state.lastSeq = 0; state.at = ''; clearView(); }
  setStatus('connecting', 'connecting…');
  const ws = new WebSocket(wsURL());
  state.ws = ws;
  ws.onmessage = (ev) => handle(JSON.parse(ev.data));
  ws.onclose = (ev) => {
    if (state.ws !== ws) return;
    state.ws = null;
    const delay = Math.min(10000, 500 * 2 ** state.retry++);
    setStatus('reconnecting', `reconnecting in ${Math.ceil(delay / 1000)}s…` + (ev.reason ? ` (${ev.reason})` : ''));
    state.retryTimer = setTimeout(() => connect(false), delay);
  };
}

function handle(m) {
  switch (m.type) {
    case 'hello':
      state.retry = 0;
      if (!m.resumed && (state.logId || state.lastSeq)) {
        clearView();
        note('marker', '— reconnected: the server restarted and no longer holds where this view was; showing its latest lines —');
      }
      state.logId = m.log;
      setStatus('live', 'live');
      sourceStatus(m.state);
      break;
    case 'lines':
      if (m.lines.length) state.lastSeq = m.lines[m.lines.length - 1].seq;
      if (m.at) state.at = m.at;
      receive(m.lines);
      break;
    case 'gap':
      state.lastSeq = m.to;
      receive([{ seq: m.to, mark: 'gap', text: `${m.to - m.from + 1} lines skipped: this view fell behind and the server no longer holds them` }]);
      break;
    case 'status':
      sourceStatus(m.state);
      break;
    case 'reset':
      clearView();
      break;
    case 'error':
      if (m.code === 'bad_filter') {
        el.filterError.textContent = m.msg;
        el.filterError.hidden = false;
        el.filter.setAttribute('aria-invalid', 'true');
      } else {
        setStatus('error', m.msg);
      }
      break;
  }
}

// ---- wiring ---------------------------------------------------------------
async function start() {
  const want = readURL();
  el.filter.value = want.q; el.re.checked = want.re; el.cas.checked = want.cas; el.inv.checked = want.inv;
  buildMatcher();
  try {
    await loadHosts(want.host);
  } catch (e) {
    setStatus('error', 'cannot load hosts: ' + e.message);
    return;
  }
  await loadFiles(want.file);
  writeURL();
  connect(true);

  el.host.addEventListener('change', async () => { await loadFiles(''); writeURL(); connect(true); });
  el.file.addEventListener('change', () => { writeURL(); connect(true); });
  el.filter.addEventListener('input', filterChanged);
  for (const c of [el.re, el.cas, el.inv]) c.addEventListener('change', filterChanged);
  el.pause.addEventListener('click', () => setPaused(!state.paused));
  el.log.addEventListener('scroll', () => { state.follow = atBottom(); });
}

start();
