/* Kizuna contact-book thread: marking the thread read.

   The newest message at least half on screen while the page is visible is posted to
   POST /api/v1/threads/{id}/read/ ({"seq": n}), 800 ms after the last change (debounced), and
   only when it is past what was posted before. The answer's last_read_seq is our own read
   mark (onRead); a failed post lowers the mark again so the next check retries. Without
   IntersectionObserver the whole thread counts as seen. */

const READ_DEBOUNCE_MS = 800;

export class ReadTracker {
  // lastSeq(): the highest seq seen; isGone(): the thread was taken away.
  constructor({ cfg, api, lastSeq, isGone }) {
    this.url = cfg.urls.read;
    this.me = cfg.me;
    this.api = api;
    this.lastSeq = lastSeq;
    this.isGone = isGone;
    this.visible = new Set(); // seqs at least half on screen
    this.sent = Number(cfg.myLastRead) || 0;
    this.timer = null;
    this.observer = null;
    this.onRead = () => {};
    if ("IntersectionObserver" in window) {
      this.observer = new IntersectionObserver(
        (entries) => {
          entries.forEach((entry) => {
            const seq = Number(entry.target.getAttribute("data-seq"));
            if (!seq) {
              return;
            }
            if (entry.isIntersecting) {
              this.visible.add(seq);
            } else {
              this.visible.delete(seq);
            }
          });
          this.schedule();
        },
        { threshold: 0.5 },
      );
    }
  }

  // Watch a message's <li> (replacing the one it took the place of).
  observe(li, replaced) {
    if (!this.observer) {
      return;
    }
    if (replaced) {
      this.observer.unobserve(replaced);
    }
    this.observer.observe(li);
  }

  newestVisible() {
    if (!this.observer) {
      return this.lastSeq(); // no observer: the thread is on the page, count it as seen
    }
    return this.visible.size ? Math.max(...this.visible) : 0;
  }

  schedule() {
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(() => this.markRead(), READ_DEBOUNCE_MS);
  }

  markRead() {
    if (document.visibilityState !== "visible" || this.isGone()) {
      return;
    }
    const seq = this.newestVisible();
    if (seq <= this.sent) {
      return;
    }
    const wanted = seq;
    this.sent = seq; // optimistic; a failure lowers it again so the next check retries
    this.api("POST", this.url, { seq: wanted }).then(
      (r) => {
        if (r.status === 200 && r.data) {
          const mark = Number(r.data.last_read_seq) || 0;
          this.sent = Math.max(this.sent, mark);
          this.onRead(this.me, mark);
        } else if (this.sent === wanted) {
          this.sent = wanted - 1;
        }
      },
      () => {
        if (this.sent === wanted) {
          this.sent = wanted - 1;
        }
      },
    );
  }
}
