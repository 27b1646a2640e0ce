// Lines per second over the last minute, drawn as a small bar sparkline on a
// canvas. Colours come from the canvas's CSS colour, so themes apply.

const SECONDS = 60;

export class Rate {
  constructor(canvas, label) {
    this.canvas = canvas;
    this.label = label;
    this.buckets = new Array(SECONDS).fill(0);
    this.cur = 0;
    this.sec = Math.floor(Date.now() / 1000);
    setInterval(() => this.tick(), 1000);
    this.draw();
  }

  /** reset forgets every count (another log is shown). */
  reset() {
    this.buckets.fill(0);
    this.cur = 0;
    this.sec = Math.floor(Date.now() / 1000);
    this.label.textContent = '0/s';
    this.draw();
  }

  add(n) {
    this.roll();
    this.cur += n;
  }

  roll() {
    const now = Math.floor(Date.now() / 1000);
    if (now === this.sec) return;
    const steps = Math.min(SECONDS, now - this.sec);
    for (let i = 0; i < steps; i++) {
      this.buckets.shift();
      this.buckets.push(i === 0 ? this.cur : 0);
    }
    this.cur = 0;
    this.sec = now;
  }

  tick() {
    this.roll();
    const last = this.buckets[SECONDS - 1];
    this.label.textContent = `${short(last)}/s`;
    this.canvas.title = `lines per second over the last minute (peak ${short(Math.max(...this.buckets))}/s)`;
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
