// A virtualised log view. Records are grouped in chunks of CHUNK lines; each
// chunk is one <div> in the scroller. Only chunks near the viewport hold line
// nodes; the others are empty placeholders with the height they had (or an
// estimate), so the DOM stays small however many lines are held, and the
// scrollbar still spans them all. Chromium's and Firefox's scroll anchoring
// keep the view still when a placeholder's estimate is corrected above it.
//
// The scroller is the offsetParent of chunks and lines alike, so offsetTop
// is a position in the scrolled content.

import { lineNode, jsonRows } from './render.js';

const CHUNK = 100;
const SCROLL_KEYS = new Set(['ArrowUp', 'ArrowDown', 'PageUp', 'PageDown', 'Home', 'End', ' ']);

export class LogView {
  /**
   * @param {HTMLElement} scroller the scrolling element (position: relative)
   * @param {HTMLElement} box the element chunks go into
   * @param {{max: number, onTrim: (n: number) => void, onFollow: (f: boolean) => void}} opts
   */
  constructor(scroller, box, opts) {
    this.sc = scroller;
    this.box = box;
    this.max = opts.max;
    this.onTrim = opts.onTrim;
    this.onFollow = opts.onFollow;
    this.onTop = opts.onTop || (() => {});
    this.chunks = [];
    this.shown = new Set(); // rendered chunks
    this.count = 0;   // records held
    this.marks = 0;   // of which markers, gaps and notes
    this.trimmed = 0;
    this.follow = true;
    // hide: null, or a predicate over records: those it accepts are held
    // but not drawn (a merged view's hidden hosts).
    this.render = { re: null, json: false, wrap: false, target: -1, hide: null, hostW: 0, eventShow: 5 };
    this.lineH = 0;
    this.charW = 0;
    this.raf = 0;
    this.lastTop = 0;
    this.userScroll = -Infinity; // no person has scrolled yet (0 would count as "recent" for the first second of the page)
    this.ro = new ResizeObserver(() => { this.metrics(); this.schedule(); });
    this.ro.observe(scroller);
    const user = () => { this.userScroll = performance.now(); };
    for (const ev of ['wheel', 'touchmove', 'pointerdown']) scroller.addEventListener(ev, user, { passive: true });
    scroller.addEventListener('keydown', (e) => { if (SCROLL_KEYS.has(e.key)) user(); });
    // Already at the top, a wheel or a key up moves nothing (no scroll
    // event): it still asks for what lies above.
    scroller.addEventListener('wheel', (e) => { if (e.deltaY < 0) this.upAtTop(); }, { passive: true });
    scroller.addEventListener('touchmove', () => this.upAtTop(), { passive: true });
    scroller.addEventListener('keydown', (e) => { if (['ArrowUp', 'PageUp', 'Home'].includes(e.key)) this.upAtTop(); });
    scroller.addEventListener('scroll', () => this.scrolled());
  }

  // ---- measuring ----------------------------------------------------------

  metrics() {
    const probe = document.createElement('div');
    probe.className = 'ln probe';
    const t = document.createElement('span');
    t.className = 'tx';
    t.textContent = '0'.repeat(100);
    probe.append(t);
    this.box.append(probe);
    const cs = getComputedStyle(probe);
    this.lineH = probe.offsetHeight || 18;
    this.charW = t.getBoundingClientRect().width / 100 || 7.5;
    this.textW = Math.max(80, this.sc.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight));
    probe.remove();
  }

  estimate(c) {
    if (!this.lineH) this.metrics();
    const { wrap, json } = this.render;
    const cols = Math.max(10, Math.floor(this.textW / this.charW));
    let rows = 0;
    for (const r of c.recs) {
      if (this.hidden(r)) continue;
      let n = 1;
      if (json && !r.mark) n = jsonRows(r.text);
      else if (wrap) n = Math.max(1, Math.ceil((r.text.length + (r.host ? this.render.hostW + 1 : 0)) / cols));
      rows += n;
    }
    return rows * this.lineH;
  }

  /** hidden reports whether record r is held but not drawn. */
  hidden(r) {
    return !!this.render.hide && this.render.hide(r);
  }

  // ---- content --------------------------------------------------------------

  /** append adds records at the end (in order). */
  append(recs) {
    if (!recs.length) return;
    let c = this.chunks[this.chunks.length - 1];
    const fresh = document.createDocumentFragment();
    const grown = new Set();
    for (const r of recs) {
      if (!c || c.recs.length >= CHUNK) {
        c = { recs: [], el: document.createElement('div'), h: 0 };
        c.el.className = 'chunk';
        this.chunks.push(c);
        fresh.append(c.el);
      }
      c.recs.push(r);
      if (r.mark) this.marks++;
      if (!this.shown.has(c)) grown.add(c);
      else if (!this.hidden(r)) c.el.append(lineNode(r, this.render));
    }
    for (const g of grown) g.el.style.height = this.estimate(g) + 'px';
    this.box.append(fresh);
    this.count += recs.length;
    this.trim();
    this.settle();
  }

  /**
   * prepend adds records (in order) above the first one held: lines older
   * than any held, from history. Their record numbers are below every held
   * one. The line at the top of the viewport stays where it is on screen.
   */
  prepend(recs) {
    if (!recs.length) return;
    const anchor = this.anchor();
    const top = this.sc.scrollTop;
    const fresh = [];
    for (let i = 0; i < recs.length; i += CHUNK) {
      const c = { recs: recs.slice(i, i + CHUNK), el: document.createElement('div'), h: 0 };
      c.el.className = 'chunk';
      for (const r of c.recs) if (r.mark) this.marks++;
      c.el.style.height = this.estimate(c) + 'px';
      fresh.push(c);
    }
    const first = this.chunks.length ? this.chunks[0].el : null;
    for (const c of fresh) this.box.insertBefore(c.el, first);
    this.chunks.unshift(...fresh);
    this.count += recs.length;
    if (anchor) this.restore(anchor);
    else if (!this.follow) this.sc.scrollTop = top + fresh.reduce((h, c) => h + c.el.offsetHeight, 0);
    this.lastTop = this.sc.scrollTop;
    this.settle();
    if (anchor) this.restore(anchor); // painting corrected the estimates above it
  }

  // trim drops the oldest records beyond max: whole chunks, then the head
  // of the first one.
  trim() {
    let drop = this.count - this.max;
    if (drop <= 0) return;
    this.count -= drop;
    this.trimmed += drop;
    while (drop > 0) {
      const c = this.chunks[0];
      if (c.recs.length <= drop) {
        drop -= c.recs.length;
        for (const r of c.recs) if (r.mark) this.marks--;
        this.chunks.shift();
        this.shown.delete(c);
        c.el.remove();
        continue;
      }
      for (const r of c.recs.splice(0, drop)) if (r.mark) this.marks--;
      if (this.shown.has(c)) this.fill(c); // hidden records have no node: draw it again
      else c.el.style.height = this.estimate(c) + 'px';
      drop = 0;
    }
    this.onTrim(this.trimmed);
  }

  clear() {
    this.chunks = [];
    this.shown.clear();
    this.box.replaceChildren();
    this.count = 0;
    this.marks = 0;
    this.trimmed = 0;
    this.onTrim(0);
    this.setFollow(true);
  }

  /** options changes how lines are drawn and redraws them in place. */
  options(o) {
    const anchor = this.follow ? null : this.anchor();
    Object.assign(this.render, o);
    this.metrics();
    for (const c of this.chunks) {
      if (this.shown.has(c)) this.fill(c);
      else c.el.style.height = this.estimate(c) + 'px';
    }
    if (anchor) this.restore(anchor);
    this.settle();
  }

  fill(c) {
    const f = document.createDocumentFragment();
    for (const r of c.recs) if (!this.hidden(r)) f.append(lineNode(r, this.render));
    c.el.style.height = '';
    c.el.replaceChildren(f);
  }

  // ---- windowing ------------------------------------------------------------

  schedule() {
    if (!this.raf) this.raf = requestAnimationFrame(() => { this.raf = 0; this.settle(); });
  }

  /** settle renders the chunks near the viewport and, when following, sticks to the bottom. */
  settle() {
    // A wheel that moved the view up before its scroll event was dispatched.
    if (this.follow && this.sc.scrollTop < this.lastTop - 1 && this.recentUser()) this.setFollow(false);
    for (let i = 0; i < 4; i++) {
      if (this.follow) this.toBottom();
      if (!this.paint()) break;
    }
    if (this.follow) this.toBottom();
  }

  toBottom() {
    const top = this.sc.scrollHeight - this.sc.clientHeight;
    if (Math.abs(this.sc.scrollTop - top) > 1) this.sc.scrollTop = top;
    this.lastTop = this.sc.scrollTop;
  }

  // paint renders the chunks that intersect the viewport plus a margin of a
  // viewport on either side and empties the others. It reports whether it
  // rendered anything (heights may have changed).
  paint() {
    const n = this.chunks.length;
    if (!n) return false;
    const h = this.sc.clientHeight;
    const lo = this.sc.scrollTop - h, hi = this.sc.scrollTop + 2 * h;
    // first chunk whose bottom is below lo
    let a = 0, b = n - 1;
    while (a < b) {
      const m = (a + b) >> 1;
      const el = this.chunks[m].el;
      if (el.offsetTop + el.offsetHeight <= lo) a = m + 1; else b = m;
    }
    const want = new Set();
    for (let i = a; i < n; i++) {
      const el = this.chunks[i].el;
      if (el.offsetTop >= hi && want.size) break;
      want.add(this.chunks[i]);
    }
    const leave = [...this.shown].filter((c) => !want.has(c));
    const heights = leave.map((c) => c.el.offsetHeight); // read all, then write
    leave.forEach((c, i) => {
      c.el.style.height = heights[i] + 'px';
      c.el.replaceChildren();
      this.shown.delete(c);
    });
    let added = false;
    for (const c of want) {
      if (this.shown.has(c)) continue;
      this.fill(c);
      this.shown.add(c);
      added = true;
    }
    return added;
  }

  recentUser() {
    return performance.now() - this.userScroll < 1000;
  }

  scrolled() {
    const top = this.sc.scrollTop;
    // Only the user stops following, by scrolling up; reaching the bottom
    // again (by any means) resumes it. Content changes never stop it.
    if (this.sc.scrollHeight - this.sc.clientHeight - top < Math.max(4, this.lineH / 2)) this.setFollow(true);
    else if (top < this.lastTop - 1 && this.recentUser()) this.setFollow(false);
    this.lastTop = top;
    if (top < 2 * (this.lineH || 18) && !this.follow && this.recentUser()) this.onTop(); // a person scrolled to the top
    this.schedule();
  }

  setFollow(f) {
    if (f === this.follow) return;
    this.follow = f;
    this.onFollow(f);
  }

  top() {
    this.setFollow(false);
    this.sc.scrollTop = 0;
    this.lastTop = 0;
    this.settle();
  }

  /** upAtTop: a person moved up at the top of what is held (onTop asks for more). */
  upAtTop() {
    if (this.sc.scrollTop < 2 * (this.lineH || 18) && this.count) {
      this.setFollow(false);
      this.onTop();
    }
  }

  bottom() {
    this.setFollow(true);
    this.settle();
  }

  // ---- positions ------------------------------------------------------------

  chunkOf(n) {
    let a = 0, b = this.chunks.length - 1;
    while (a <= b) {
      const m = (a + b) >> 1;
      const rs = this.chunks[m].recs;
      if (rs[rs.length - 1].n < n) a = m + 1;
      else if (rs[0].n > n) b = m - 1;
      else return this.chunks[m];
    }
    return null;
  }

  /**
   * refresh draws the records numbered from a to b again (which of them are
   * hidden changed: an event folded or unfolded), keeping the line at the
   * top of the viewport where it is.
   */
  refresh(a, b) {
    const anchor = this.follow ? null : this.anchor();
    for (const c of this.chunks) {
      const rs = c.recs;
      if (!rs.length || rs[rs.length - 1].n < a || rs[0].n > b) continue;
      if (this.shown.has(c)) this.fill(c);
      else c.el.style.height = this.estimate(c) + 'px';
    }
    if (anchor) this.restore(anchor);
    this.settle();
  }

  /** repaint draws the lines on screen again (relative times moved on). */
  repaint() {
    for (const c of this.shown) this.fill(c);
  }

  /** redraw draws record number n again if it is on screen (its text changed). */
  redraw(n) {
    const c = this.chunkOf(n);
    if (!c || !this.shown.has(c)) return;
    const old = c.el.querySelector(`[data-n="${n}"]`);
    const r = c.recs.find((x) => x.n === n);
    if (old && r) old.replaceWith(lineNode(r, this.render));
  }

  /**
   * reveal scrolls record number n (rec.n) to the middle of the view (or,
   * with top, to the top: where a view opened at a deploy mark starts) and
   * marks it.
   */
  reveal(n, top = false) {
    const c = this.chunkOf(n);
    if (!c) return false;
    this.setFollow(false);
    this.render.target = n;
    for (const el of this.box.querySelectorAll('.ln.target')) el.classList.remove('target');
    if (!this.shown.has(c)) { this.fill(c); this.shown.add(c); }
    const el = c.el.querySelector(`[data-n="${n}"]`);
    if (!el) return false;
    el.classList.add('target');
    const at = () => el.offsetTop - (top ? 4 : this.sc.clientHeight / 2);
    this.sc.scrollTop = at();
    this.lastTop = this.sc.scrollTop;
    this.paint();
    const again = at(); // estimates above may have changed
    if (Math.abs(again - this.sc.scrollTop) > 1) this.sc.scrollTop = again;
    this.lastTop = this.sc.scrollTop;
    this.paint();
    return true;
  }

  // anchor remembers the first line in view and how far below the top it is.
  anchor() {
    const top = this.sc.scrollTop;
    for (const c of this.chunks) {
      if (!this.shown.has(c) || c.el.offsetTop + c.el.offsetHeight <= top) continue;
      for (const el of c.el.children) {
        const y = el.offsetTop;
        if (y + el.offsetHeight > top) return { n: Number(el.dataset.n), dy: y - top };
      }
    }
    return null;
  }

  restore(a) {
    const c = this.chunkOf(a.n);
    if (!c) return;
    if (!this.shown.has(c)) { this.fill(c); this.shown.add(c); }
    const el = c.el.querySelector(`[data-n="${a.n}"]`);
    if (el) this.sc.scrollTop = el.offsetTop - a.dy;
    this.lastTop = this.sc.scrollTop;
  }
}
