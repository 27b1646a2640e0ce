// Lines per second over the last minute, drawn as a small bar sparkline on a
// canvas, with the errors among them in the theme's error colour. Colours
// come from CSS (the canvas's colour, --err), so themes apply.

const SECONDS = 60;

export class Rate {
  constructor(canvas, label) {
    this.canvas = canvas;
    this.label = label;
    this.buckets = new Array(SECONDS).fill(0);
    this.errs = new Array(SECONDS).fill(0);
    this.cur = 0;
    this.curErr = 0;
    this.sec = Math.floor(Date.now() / 1000);
    setInterval(() => this.tick(), 1000);
    this.draw();
  }

  /** reset forgets every count (another log is shown). */
  reset() {
    this.buckets.fill(0);
    this.errs.fill(0);
    this.cur = 0;
    this.curErr = 0;
    this.sec = Math.floor(Date.now() / 1000);
    this.label.textContent = '0/s';
    this.draw();
  }

  /** add counts n live lines, errs of them errors. */
  add(n, errs = 0) {
    this.roll();
    this.cur += n;
    this.curErr += errs;
  }

  roll() {
    const now = Math.floor(Date.now() / 1000);
    if (now === this.sec) return;
    const steps = Math.min(SECONDS, now - this.sec);
    for (let i = 0; i < steps; i++) {
      this.buckets.shift();
      this.buckets.push(i === 0 ? this.cur : 0);
      this.errs.shift();
      this.errs.push(i === 0 ? this.curErr : 0);
    }
    this.cur = 0;
    this.curErr = 0;
    this.sec = now;
  }

  tick() {
    this.roll();
    const last = this.buckets[SECONDS - 1];
    this.label.textContent = `${short(last)}/s`;
    const errs = this.errs.reduce((a, b) => a + b, 0);
    this.canvas.title = `lines per second over the last minute (peak ${short(Math.max(...this.buckets))}/s)` +
      (errs ? `; ${short(errs)} error${errs === 1 ? '' : 's'} (in red)` : '');
    this.draw();
  }

  draw() {
    const c = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth, h = c.clientHeight;
    if (!w || !h) return;
    if (c.width !== Math.round(w * dpr)) { c.width = Math.round(w * dpr); c.height = Math.round(h * dpr); }
    const g = c.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const max = Math.max(1, ...this.buckets);
    const bw = w / SECONDS;
    g.fillStyle = getComputedStyle(c).color;
    g.globalAlpha = 0.25;
    g.fillRect(0, h - 1, w, 1);
    g.globalAlpha = 1;
    this.buckets.forEach((v, i) => {
      if (!v) return;
      const bh = Math.max(1, Math.round((v / max) * (h - 1)));
      g.fillRect(i * bw, h - bh, Math.max(1, bw - 0.5), bh);
    });
    g.fillStyle = getComputedStyle(document.documentElement).getPropertyValue('--err') || '#d1242f';
    this.errs.forEach((v, i) => {
      if (!v) return;
      const bh = Math.max(2, Math.round((v / max) * (h - 1)));
      g.fillRect(i * bw, h - bh, Math.max(1, bw - 0.5), bh);
    });
  }
}

export function fmt(n) {
  if (n >= 1e6) return (n / 1e6).toFixed(n >= 1e7 ? 0 : 1) + 'M';
  return n.toLocaleString('en-US');
}

/** short is fmt for tight spaces: 12.3k. */
export function short(n) {
  if (n >= 1e4 && n < 1e6) return (n / 1e3).toFixed(n >= 1e5 ? 0 : 1) + 'k';
  return fmt(n);
}
