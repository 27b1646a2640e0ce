// ANSI escape sequences → styled segments. Only SGR (ESC[…m) is rendered:
// 16 colours become classes (themed in style.css), 256 and truecolor become
// rgb() values for element.style; bold, dim, italic, underline, strike and
// inverse become classes. Every other escape (cursor moves, OSC titles and
// links, charset selection) is dropped so it never shows as garbage, and no
// escape ever hides the text around it.
//
// OSC (ESC ] … title, hyperlink, clipboard) ends at BEL, at ESC \ or at the
// C1 ST (U+009C). The server turns control characters into their Unicode
// pictures (tailer.Clean), so the BEL arrives here as ␇ (U+2407); it ends an
// OSC like BEL itself. A terminated OSC is dropped whole. An OSC with no
// terminator before the next ESC or the end of the line cannot be told apart
// from the text after it (a title is printable text too), so only its
// introducer and numeric command ("ESC ]0;") are dropped and the rest shows.

const ESC = '\x1b';
// CSI … final byte
// | OSC … terminator: dropped whole
// | OSC never terminated: drop "ESC ] Ps ;" only, keep the text
// | any other escape (ESC(B, ESC7, a lone ESC).
const SEQ = /\x1b\[([0-?]*)[ -/]*([@-~])|\x1b\][^\x07\u2407\x1b\u009c]*(?:\x07|\u2407|\x1b\\|\u009c)|\x1b\](?:\d*;)?|\x1b[ -/]*[0-~]?/g;

/** hasANSI reports whether s contains an escape character. */
export const hasANSI = (s) => s.includes(ESC);

/** strip removes every escape sequence from s. */
export function strip(s) {
  return hasANSI(s) ? s.replace(SEQ, '') : s;
}

function rgb256(n) {
  if (n < 16) return n; // palette index: themed class
  if (n < 232) {
    n -= 16;
    const v = (c) => (c === 0 ? 0 : 55 + c * 40);
    return `rgb(${v(Math.floor(n / 36))},${v(Math.floor(n / 6) % 6)},${v(n % 6)})`;
  }
  const g = 8 + (n - 232) * 10;
  return `rgb(${g},${g},${g})`;
}

// extended reads a 38/48 colour starting at params[i] (the 5 or 2) and
// returns [colour or undefined, params consumed].
function extended(p, i) {
  if (p[i] === 5 && i + 1 < p.length) return [rgb256(clamp(p[i + 1])), 2];
  if (p[i] === 2 && i + 3 < p.length) return [`rgb(${clamp(p[i + 1])},${clamp(p[i + 2])},${clamp(p[i + 3])})`, 4];
  return [undefined, p.length - i];
}

const clamp = (n) => Math.max(0, Math.min(255, n | 0));

function sgr(st, raw) {
  // "38:2::r:g:b" (ITU form, with colour-space id) and "38;2;r;g;b" both occur.
  let p;
  if (raw.includes(':')) {
    p = [];
    for (const part of raw.split(';')) {
      const sub = part.split(':').map((x) => (x === '' ? 0 : Number(x)));
      if (sub.length > 1 && (sub[0] === 38 || sub[0] === 48 || sub[0] === 58) && sub[1] === 2 && sub.length === 6) sub.splice(2, 1);
      p.push(...sub);
    }
  } else {
    p = raw === '' ? [0] : raw.split(';').map((x) => (x === '' ? 0 : Number(x)));
  }
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === 0) { for (const k of Object.keys(st)) delete st[k]; }
    else if (c === 1) st.b = true;
    else if (c === 2) st.d = true;
    else if (c === 3) st.i = true;
    else if (c === 4) st.u = true;
    else if (c === 7) st.inv = true;
    else if (c === 9) st.s = true;
    else if (c === 22) { delete st.b; delete st.d; }
    else if (c === 23) delete st.i;
    else if (c === 24) delete st.u;
    else if (c === 27) delete st.inv;
    else if (c === 29) delete st.s;
    else if (c >= 30 && c <= 37) st.fg = c - 30;
    else if (c >= 90 && c <= 97) st.fg = c - 90 + 8;
    else if (c === 39) delete st.fg;
    else if (c >= 40 && c <= 47) st.bg = c - 40;
    else if (c >= 100 && c <= 107) st.bg = c - 100 + 8;
    else if (c === 49) delete st.bg;
    else if (c === 38 || c === 48 || c === 58) {
      const [col, used] = extended(p, i + 1);
      if (col !== undefined && c !== 58) st[c === 38 ? 'fg' : 'bg'] = col;
      i += used;
    }
  }
}

/**
 * parse splits s into segments {text, st} where st is a style object
 * ({fg, bg, b, d, i, u, s, inv}) or null for unstyled text.
 */
export function parse(s) {
  const segs = [];
  const st = {};
  let last = 0;
  SEQ.lastIndex = 0;
  for (let m; (m = SEQ.exec(s)) !== null;) {
    if (m.index > last) segs.push({ text: s.slice(last, m.index), st: snapshot(st) });
    last = SEQ.lastIndex;
    if (m[2] === 'm') sgr(st, m[1]);
    if (m[0] === '') SEQ.lastIndex++;
  }
  if (last < s.length) segs.push({ text: s.slice(last), st: snapshot(st) });
  return segs;
}

function snapshot(st) {
  for (const _ in st) return { ...st };
  return null;
}

const BG = { light: [255, 255, 255], dark: [13, 17, 23] }; // --bg of each theme

function luminance([r, g, b]) {
  const c = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  return 0.2126 * c(r) + 0.7152 * c(g) + 0.0722 * c(b);
}

function contrast(a, b) {
  const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}

/**
 * readable returns an rgb() colour with at least 4.5:1 contrast on the
 * current theme's background: the colour itself, or it mixed towards black
 * (light theme) or white (dark) just enough.
 */
export function readable(css) {
  const m = /^rgb\((\d+),(\d+),(\d+)\)$/.exec(css);
  if (!m) return css;
  const c = [Number(m[1]), Number(m[2]), Number(m[3])];
  const dark = document.documentElement.dataset.theme === 'dark';
  const bg = dark ? BG.dark : BG.light;
  const to = dark ? 255 : 0;
  for (let k = 0; k <= 10; k++) {
    const t = k / 10;
    const x = c.map((v) => Math.round(v + (to - v) * t));
    if (contrast(x, bg) >= 4.5) return k ? `rgb(${x[0]},${x[1]},${x[2]})` : css;
  }
  return dark ? 'rgb(255,255,255)' : 'rgb(0,0,0)';
}

/** style applies a segment style to a span: classes for palette colours and attributes, element.style for rgb. */
export function style(span, st) {
  let { fg, bg } = st;
  if (st.inv) {
    [fg, bg] = [bg === undefined ? 'var(--bg)' : bg, fg === undefined ? 'var(--fg)' : fg];
  }
  const cls = [];
  // A 256-colour or truecolor foreground on the theme's background is made
  // readable (≥ 4.5:1); on a background of its own it is used as written.
  if (typeof fg === 'number') cls.push('a-f' + fg); else if (fg) span.style.color = bg === undefined ? readable(fg) : fg;
  if (typeof bg === 'number') cls.push('a-g' + bg); else if (bg) span.style.backgroundColor = bg;
  if (st.b) cls.push('a-b');
  if (st.d) cls.push('a-d');
  if (st.i) cls.push('a-i');
  if (st.u) cls.push('a-u');
  if (st.s) cls.push('a-s');
  if (cls.length) span.className = cls.join(' ');
}
