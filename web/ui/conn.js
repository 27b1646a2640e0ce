// The WebSocket to /ws, reconnected with backoff. The app supplies the URL
// for each attempt (so it carries log/since/at to resume exactly) and
// handles the messages. When a connection fails before its hello, the same
// URL is fetched over plain HTTP: the server answers a refused request
// (unknown file, bad filter, foreign origin) with a JSON reason, which is
// shown instead of retrying blindly. A plain GET never starts a tail: for a
// view it would allow, the server answers that it needs a WebSocket upgrade
// (400, or 426), and then the view is fine and the WebSocket itself failed
// (a proxy that does not pass upgrades, or a passing network error).
//
// A close with code 4001 means the identity behind the view has ended
// (signed out, here or in another tab; the session or share link expired):
// retrying cannot help, so the app is told and nothing is retried.

const SIGNED_OUT = 4001; // the server's close code when an identity ends

export class Conn {
  /**
   * @param {{
   *   url: () => string,
   *   message: (m: object) => void,
   *   state: (kind: string, text: string, detail?: string) => void,
   *   refused: (status: number, msg: string) => boolean,
   *   ended: (reason: string) => void,
   * }} h refused returns true to keep retrying (slowly); ended is called
   * on a 4001 close.
   */
  constructor(h) {
    this.h = h;
    this.ws = null;
    this.failures = 0;
    this.timer = 0;
    this.tick = 0;
    this.due = 0;
    this.why = '';
    addEventListener('online', () => this.soon());
    document.addEventListener('visibilitychange', () => { if (!document.hidden) this.soon(); });
  }

  get open() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  /** start (re)connects now. */
  start() {
    this.stop();
    const url = this.h.url();
    if (!url) return;
    this.h.state('connecting', 'connecting…');
    const ws = new WebSocket(url);
    let hello = false;
    this.ws = ws;
    ws.onmessage = (ev) => {
      let m;
      try { m = JSON.parse(ev.data); } catch { return; }
      if (m.type === 'hello') { hello = true; this.failures = 0; }
      this.h.message(m);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (ev.code === SIGNED_OUT) {
        this.h.ended(ev.reason || 'signed out');
        return;
      }
      if (hello) {
        this.why = ev.reason || 'connection closed';
        this.retry(150 + Math.random() * 250);
      } else {
        this.failures++;
        this.probe(url);
      }
    };
  }

  /** stop closes the connection and cancels any retry. */
  stop() {
    clearTimeout(this.timer);
    clearInterval(this.tick);
    this.timer = 0;
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.onclose = null;
      ws.onmessage = null;
      ws.close(1000);
    }
  }

  send(m) {
    if (!this.open) return false;
    this.ws.send(JSON.stringify(m));
    return true;
  }

  /**
   * soon retries at once if a retry is waiting (the network came back, the
   * tab was shown, the user asked); it reports whether one was.
   */
  soon() {
    if (!this.timer) return false;
    this.failures = Math.min(this.failures, 1); // asked by hand: the next waits are short again
    this.start();
    return true;
  }

  async probe(url) {
    let status = 0, msg = '';
    try {
      const r = await fetch(url.replace(/^ws/, 'http'), { cache: 'no-store' });
      status = r.status;
      if ((r.headers.get('content-type') || '').includes('json')) msg = (await r.json()).error || '';
    } catch {
      this.why = 'server unreachable';
      this.retry(this.backoff());
      return;
    }
    if (this.ws || this.timer) return; // restarted meanwhile
    if (status === 426 || (status === 400 && /upgrade/i.test(msg))) {
      this.why = 'the server allows this view, but the WebSocket connection failed (does a proxy pass WebSocket upgrades?)';
      this.retry(this.backoff());
      return;
    }
    if (msg && status >= 400 && status < 500) {
      if (this.h.refused(status, msg)) { this.why = msg; this.retry(30000, 'error'); }
      return;
    }
    this.why = msg || `connection failed (HTTP ${status})`;
    this.retry(this.backoff());
  }

  backoff() {
    const d = Math.min(10000, 250 * 2 ** Math.min(6, this.failures - 1));
    return d * (0.8 + Math.random() * 0.4);
  }

  retry(delay, kind = 'reconnecting') {
    clearTimeout(this.timer);
    clearInterval(this.tick);
    this.due = Date.now() + delay;
    const show = () => {
      const s = Math.ceil((this.due - Date.now()) / 1000);
      this.h.state(kind, s > 1 ? `reconnecting in ${s}s…` : 'reconnecting…', this.why);
    };
    show();
    this.tick = setInterval(show, 1000);
    this.timer = setTimeout(() => { this.timer = 0; clearInterval(this.tick); this.start(); }, delay);
  }
}
