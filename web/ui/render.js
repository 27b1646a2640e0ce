// Turning one log record into DOM nodes. Log text only ever becomes text
// nodes (textContent / append(string)); styling comes from classes and
// element.style, never from markup built out of log text.

import { hasANSI, parse as parseANSI, strip, style as styleANSI } from './ansi.js';

// ---- levels -------------------------------------------------------------

const LEVELS = {
  fatal: 'f', panic: 'f', emerg: 'f', emergency: 'f', alert: 'f', crit: 'f', critical: 'f', dpanic: 'f',
  error: 'e', err: 'e', eror: 'e', severe: 'e',
  warn: 'w', warning: 'w', wrn: 'w',
  info: 'i', inf: 'i', notice: 'i', information: 'i',
  debug: 'd', dbg: 'd', debu: 'd', fine: 'd',
  trace: 't', trc: 't', finer: 't', finest: 't', verbose: 't',
};
// key=value and JSON forms: level=error, "level":"warn", severity: INFO
const KEYED = /\b(?:level|lvl|severity|loglevel)"?\s*[=:]\s*"?([A-Za-z]+)/i;
// an upper-case word: ERROR, WARN, [INFO], <DEBUG>
const UPPER = /(?:^|[^A-Za-z0-9_])(FATAL|PANIC|EMERG|ALERT|CRIT(?:ICAL)?|ERROR|ERR|EROR|SEVERE|WARN(?:ING)?|WRN|INFO|INF|NOTICE|DEBUG|DBG|TRACE|TRC)(?![A-Za-z0-9_])/;
// nginx/apache style: [error], [warn]
const BRACKET = /\[(emerg|alert|crit|error|warn|notice|info|debug)\]/i;
// a line that starts with a level word: "error: …", "warning …"
const LEADING = /^\s*(fatal|panic|error|err|warn|warning|info|notice|debug|trace)\b[:\s]/i;
// `"GET /x HTTP/1.1" 503` (common log format) or `GET /x 503`
const STATUS = /\b(?:GET|POST|PUT|DELETE|PATCH|HEAD|OPTIONS)\s+\S+(?:\s+HTTP\/[\d.]+"?)?\s+([45]\d\d)\b/;
const FAIL = /\bFAIL(?:ED|URE)?\b|[✗✘]/;
// The same rules are in filter/level.go (the server's level filter): keep them in step.
// glog / klog: E0102 15:04:05.000000
const GLOG = /^([IWEF])\d{4} \d\d:\d\d:\d\d/;

/** level returns 'f', 'e', 'w', 'i', 'd', 't' or '' for a line's text. */
export function level(text) {
  let s = text.length > 240 ? text.slice(0, 240) : text;
  if (hasANSI(s)) s = strip(s);
  let m = GLOG.exec(s);
  if (m) return { I: 'i', W: 'w', E: 'e', F: 'f' }[m[1]];
  m = KEYED.exec(s) || BRACKET.exec(s) || LEADING.exec(s);
  if (m && LEVELS[m[1].toLowerCase()]) return LEVELS[m[1].toLowerCase()];
  m = UPPER.exec(s);
  if (m) return LEVELS[m[1].toLowerCase()];
  // An HTTP request's status (access logs), and test and build failures.
  m = STATUS.exec(s);
  if (m) return m[1][0] === '5' ? 'e' : 'w';
  return FAIL.test(s) ? 'e' : '';
}

// ---- JSON -----------------------------------------------------------------

const TOKEN = /\s*("(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null|[{}[\],:])/y;

/**
 * jsonSegments pretty-prints the JSON object or array that ends the line (a
 * prefix such as a timestamp is kept) as coloured segments. It re-indents
 * the original tokens rather than re-serialising parsed values, so numbers
 * beyond float64 precision are shown as written. null: not JSON.
 */
export function jsonSegments(text) {
  const t = text.trimEnd();
  const last = t[t.length - 1];
  if (last !== '}' && last !== ']') return null;
  const start = t.search(/[{[]/);
  if (start < 0) return null;
  const body = t.slice(start);
  try { JSON.parse(body); } catch { return null; }
  const out = [];
  if (start > 0) out.push({ text: t.slice(0, start), cls: '' });
  let depth = 0;
  const nl = () => '\n' + '  '.repeat(depth);
  const toks = [];
  TOKEN.lastIndex = 0;
  for (let m; TOKEN.lastIndex < body.length && (m = TOKEN.exec(body)) !== null;) toks.push(m[1]);
  for (let i = 0; i < toks.length; i++) {
    const k = toks[i];
    const next = toks[i + 1];
    if (k === '{' || k === '[') {
      if (next === (k === '{' ? '}' : ']')) { out.push({ text: k + next, cls: 'j-p' }); i++; continue; }
      depth++;
      out.push({ text: k + nl(), cls: 'j-p' });
    } else if (k === '}' || k === ']') {
      depth--;
      out.push({ text: nl() + k, cls: 'j-p' });
    } else if (k === ',') {
      out.push({ text: ',' + nl(), cls: 'j-p' });
    } else if (k === ':') {
      out.push({ text: ': ', cls: 'j-p' });
    } else if (k[0] === '"') {
      out.push({ text: k, cls: next === ':' ? 'j-k' : 'j-s' });
    } else {
      out.push({ text: k, cls: k[0] === '-' || (k[0] >= '0' && k[0] <= '9') ? 'j-n' : 'j-b' });
    }
  }
  return out;
}

/** jsonRows estimates how many rows jsonSegments would produce, cheaply. */
export function jsonRows(text) {
  const t = text.trimEnd();
  const last = t[t.length - 1];
  if ((last !== '}' && last !== ']') || !/[{[]/.test(t)) return 1;
  let n = 1;
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (c === 44 || c === 123 || c === 91) n++; // , { [
  }
  return n;
}

// ---- matches ----------------------------------------------------------------

/**
 * matcher builds the RegExp used to highlight what the server's filter
 * matched. RE2 and JavaScript differ at the edges; a pattern JavaScript
 * cannot compile is simply not highlighted (the server still filters).
 */
export function matcher(spec) {
  if (!spec || !spec.text || spec.invert) return null;
  let src = spec.regex ? spec.text : spec.text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  let flags = 'g';
  if (!spec.case) flags += 'i';
  if (spec.regex && src.startsWith('(?i)')) { src = src.slice(4); if (!flags.includes('i')) flags += 'i'; }
  for (const f of [flags + 'u', flags]) {
    try { return new RegExp(src, f); } catch { /* try without u */ }
  }
  return null;
}

function ranges(re, s) {
  const out = [];
  re.lastIndex = 0;
  for (let m, n = 0; (m = re.exec(s)) !== null && n < 1000; n++) {
    if (m[0] === '') { re.lastIndex++; continue; }
    out.push([m.index, m.index + m[0].length]);
  }
  return out;
}

// ---- nodes ----------------------------------------------------------------

/**
 * fill appends the text of a line to parent: segments (ANSI styles or JSON
 * classes) with the matches of re wrapped in <mark>.
 */
export function fill(parent, text, opts) {
  let segs = null;
  if (opts.json) segs = jsonSegments(hasANSI(text) ? strip(text) : text);
  if (!segs && hasANSI(text)) segs = parseANSI(text);
  const re = opts.re;
  if (!segs) {
    if (!re) { parent.textContent = text; return; }
    segs = [{ text, st: null }];
  }
  let plain = '';
  for (const s of segs) plain += s.text;
  const rs = re ? ranges(re, plain) : [];
  let pos = 0, r = 0;
  for (const seg of segs) {
    const end = pos + seg.text.length;
    let at = pos;
    while (at < end) {
      while (r < rs.length && rs[r][1] <= at) r++;
      const inMatch = r < rs.length && rs[r][0] <= at;
      const stop = Math.min(end, inMatch ? rs[r][1] : r < rs.length ? rs[r][0] : end);
      let node = document.createTextNode(plain.slice(at, stop));
      if (seg.st || seg.cls) {
        const span = document.createElement('span');
        if (seg.st) styleANSI(span, seg.st); else span.className = seg.cls;
        span.append(node);
        node = span;
      }
      if (inMatch) {
        const mk = document.createElement('mark');
        mk.append(node);
        node = mk;
      }
      parent.append(node);
      at = stop;
    }
    pos = end;
  }
}

const MARKS = {
  rotated: '⟳', truncated: '✂', removed: '⌫', resumed: '↺', skipped: '⚠', gap: '⚠', note: 'ℹ', deploy: '⚑', sep: '⋯', local: '✎',
};

// ---- hosts ------------------------------------------------------------------

const HOST_COLOURS = 10; // .hc0 … .hc9 in style.css, each ≥ 4.5:1 in both themes

/**
 * hostColour is a host's colour class: the same for a name wherever it is
 * shown (every group, every page), from a hash of the name.
 */
export function hostColour(name) {
  let h = 0x811c9dc5; // FNV-1a
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return 'hc' + ((h >>> 0) % HOST_COLOURS);
}

/** hostTag is the coloured name of a line's host. */
export function hostTag(host) {
  const t = document.createElement('span');
  t.className = 'ht ' + hostColour(host);
  t.textContent = host;
  return t;
}

/** deployText is the words of a deploy mark's divider: "deploy v1.2.3 · by ci · 08:01:02". */
export function deployText(rec) {
  const what = /^deploy\b/i.test(rec.text) ? rec.text : 'deploy ' + rec.text;
  return what + (rec.by ? ` · by ${rec.by}` : '') + (rec.ts ? ` · ${clock(rec.ts, false)}` : '');
}

// ---- time -------------------------------------------------------------------

const ISO = /^\[?(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?)/;
const CLF = /\[(\d\d)\/(\w{3})\/(\d{4}):(\d\d:\d\d:\d\d) ([+-]\d{4})\]/;
const MONTHS = { Jan: '01', Feb: '02', Mar: '03', Apr: '04', May: '05', Jun: '06', Jul: '07', Aug: '08', Sep: '09', Oct: '10', Nov: '11', Dec: '12' };

/** ownTime is the time a line states (ISO 8601 at its start, or common log format), in ms; 0: none. */
export function ownTime(text) {
  let m = ISO.exec(text);
  if (m) {
    const t = Date.parse(m[1].replace(' ', 'T').replace(',', '.'));
    if (Number.isFinite(t)) return t;
  }
  m = CLF.exec(text.length > 200 ? text.slice(0, 200) : text);
  if (m && MONTHS[m[2]]) {
    const t = Date.parse(`${m[3]}-${MONTHS[m[2]]}-${m[1]}T${m[4]}${m[5].slice(0, 3)}:${m[5].slice(3)}`);
    if (Number.isFinite(t)) return t;
  }
  return 0;
}

/** ago says how long ago ms was: "4 s ago", "3 min ago", "2 h ago", "5 d ago". */
export function ago(ms, now = Date.now()) {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** timeCell is a line's time column: its own time, else its arrival. */
function timeCell(rec, mode) {
  if (rec.own === undefined) rec.own = ownTime(rec.text);
  const t = rec.own || rec.ts;
  const c = document.createElement('span');
  c.className = 'tm';
  if (!t) return c;
  c.textContent = mode === 'rel' ? ago(t) : clock(t);
  c.title = (rec.own ? 'The line\'s own time: ' : 'Arrived at ') + new Date(t).toLocaleString();
  return c;
}

function clock(ts, ms = true) {
  const d = new Date(ts);
  const p = (n, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}` + (ms ? `.${p(d.getMilliseconds(), 3)}` : '');
}

/**
 * lineNode renders a record: {seq, ts, text, mark?, lvl, n, host?}. mark is
 * a server marker (rotated, truncated…, or a deploy mark: a divider across
 * the view), or 'gap' / 'note' made by the client. host (a merged view) is
 * shown as a coloured tag before the text.
 */
export function lineNode(rec, opts) {
  const d = document.createElement('div');
  d.dataset.n = rec.n;
  if (rec.mark === 'deploy') {
    d.className = 'ln sp deploy';
    if (opts.target === rec.n) d.classList.add('target');
    if (rec.id) d.dataset.mark = rec.id;
    const t = document.createElement('span');
    t.className = 'tx';
    t.textContent = `${MARKS.deploy} ${deployText(rec)}`;
    d.title = `Deploy mark${rec.by ? ' by ' + rec.by : ''}, ${new Date(rec.ts).toLocaleString()}` +
      (rec.id ? ': click to copy a link that opens this log here' : '');
    d.append(t);
    return d;
  }
  if (rec.mark === 'sep') {
    // Context around matches: lines left out between two stretches.
    d.className = 'ln sp sep';
    d.setAttribute('aria-label', 'lines left out');
    const t = document.createElement('span');
    t.className = 'tx';
    t.textContent = MARKS.sep;
    d.append(t);
    return d;
  }
  if (rec.mark === 'local') {
    // "Mark now": a divider of this page's own.
    d.className = 'ln sp local';
    const t = document.createElement('span');
    t.className = 'tx';
    t.textContent = `${MARKS.local} marked ${clock(rec.ts, false)}`;
    d.append(t);
    return d;
  }
  if (rec.mark) {
    d.className = 'ln sp ' + (rec.mark === 'gap' || rec.mark === 'note' ? rec.mark : 'marker m-' + rec.mark);
    if (opts.target === rec.n) d.classList.add('target');
    const t = document.createElement('span');
    t.className = 'tx';
    t.textContent = `${MARKS[rec.mark] || '•'} ${rec.host ? rec.host + ': ' : ''}${rec.text}` + (rec.ts ? ` · ${clock(rec.ts)}` : '');
    d.append(t);
    return d;
  }
  d.className = rec.lvl ? 'ln l-' + rec.lvl : 'ln';
  d.dataset.seq = rec.seq;
  if (rec.pos) d.dataset.pos = rec.pos;
  if (opts.target === rec.n) d.classList.add('target');
  const g = document.createElement('span');
  g.className = 'gut';
  g.title = `${rec.ts ? clock(rec.ts) + ' · ' : ''}${rec.host ? rec.host + ' · ' : ''}copy a link to this line`;
  const t = document.createElement('span');
  t.className = 'tx';
  fill(t, rec.text, opts);
  d.append(g);
  if (opts.time) d.append(timeCell(rec, opts.time));
  if (rec.host) {
    d.dataset.host = rec.host;
    d.append(hostTag(rec.host));
  }
  d.append(t);
  if (rec.head) d.classList.add('cont'); // a line of the event above
  if (rec.ctx) d.classList.add('ctx'); // context around a match
  if (rec.evN > opts.eventShow) {
    // The first line of a long event (a stack trace): its other lines fold under it.
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'ev';
    b.setAttribute('aria-expanded', String(!!rec.open));
    b.textContent = rec.open ? `▾ fold ${rec.evN} lines` : `▸ ${rec.evN} more lines`;
    b.title = rec.open ? 'Fold this event to its first line' : 'Show every line of this event';
    d.append(b);
  }
  return d;
}
