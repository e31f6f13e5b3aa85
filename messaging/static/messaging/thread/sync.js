/* Kizuna contact-book thread: keeping the page in step with the server, by seq.

   - lastSeq is the highest seq seen; it is also remembered on the device
     (kizuna.seq.<user>, per thread).
   - A message.new whose seq is past lastSeq + 1 means events were missed: "resync" with
     lastSeq. Every (re)connect sends "resync" too, before the stream is trusted; an answer
     with has_more is paged on over HTTP (?after=).
   - After a gap in the connection (a reconnect, or a page older than a minute, which may
     come from the service worker's cache) the messages already shown are fetched again:
     a resync only brings newer seqs, not edits, deletions or read counts.
   - A resync answer that lists this thread under "removed" means it was taken away from this
     user: the socket stops and onGone() runs (thread.js disables the composer).
   - Frames handled here: message.new, message.edited, message.deleted, attachments.ready
     (a message again, its photos' thumbnails now made), read.updated,
     resync. Posts' answers (ack, error) belong to the outbox. */

import { load, save } from "./storage.js";

const STALE_PAGE_MS = 60 * 1000;
const RESYNC_PAGE = 200; // the server's cap on a resync's and a page's messages

export class ThreadSync {
  constructor({ cfg, seqKey, socket, view, api, stats }) {
    this.cfg = cfg;
    this.thread = cfg.thread;
    this.seqKey = seqKey;
    this.socket = socket;
    this.view = view;
    this.api = api;
    this.stats = stats;
    this.lastSeq = Number(cfg.lastSeq) || 0;
    this.gone = false; // the thread was taken away from this user
    this.onGone = () => {};
    this.onCaughtUp = () => {}; // a resync answer was merged: check what is read
  }

  rememberSeq() {
    let seqs = load(this.seqKey, {});
    if (typeof seqs !== "object" || seqs === null) {
      seqs = {};
    }
    if ((seqs[this.thread] || 0) < this.lastSeq) {
      seqs[this.thread] = this.lastSeq;
      save(this.seqKey, seqs);
    }
  }

  noteSeq(seq) {
    const n = Number(seq) || 0;
    if (n > this.lastSeq + 1) {
      this.requestResync();
    }
    if (n > this.lastSeq) {
      this.lastSeq = n;
      this.rememberSeq();
    }
  }

  requestResync() {
    const threads = {};
    threads[this.thread] = this.lastSeq;
    if (this.socket.send({ type: "resync", threads })) {
      this.stats.resyncs++;
    }
  }

  // The socket is open (again). Never trust the stream before catching up from the database.
  opened(reopened) {
    this.requestResync();
    if (reopened) {
      this.stats.reconnects++;
      this.refreshWindow();
    } else if (Date.now() - (Number(this.cfg.renderedAt) || Date.now()) > STALE_PAGE_MS) {
      this.refreshWindow(); // a page from the service worker's cache: edits may be missing
    }
  }

  handleFrame(frame) {
    switch (frame.type) {
      case "message.new":
        if (Number(frame.thread) !== this.thread) {
          return;
        }
        this.noteSeq(frame.seq);
        this.view.merge(frame.message, "live");
        break;
      case "message.edited":
      case "message.deleted":
      case "attachments.ready":
        if (Number(frame.thread) !== this.thread) {
          return;
        }
        if (Number(frame.seq) > this.lastSeq) {
          this.noteSeq(frame.seq);
        }
        this.view.merge(frame.message, "live");
        break;
      case "read.updated":
        if (Number(frame.thread) !== this.thread || !frame.user) {
          return;
        }
        this.view.applyRead(frame.user.id, Number(frame.seq));
        break;
      case "resync":
        this.applyResync(frame);
        break;
      default:
        break; // pong: nothing to do
    }
  }

  applyResync(frame) {
    if ((frame.removed || []).map(Number).indexOf(this.thread) !== -1) {
      this.goAway();
      return;
    }
    const entry = (frame.threads || {})[String(this.thread)];
    if (!entry) {
      return;
    }
    let newest = this.lastSeq;
    (entry.messages || []).forEach((m) => {
      this.view.merge(m, "resync");
      newest = Math.max(newest, Number(m.seq));
    });
    if (newest > this.lastSeq) {
      this.lastSeq = newest;
      this.rememberSeq();
    }
    if (entry.has_more) {
      this.pageAfter(this.lastSeq);
    }
    this.onCaughtUp();
  }

  goAway() {
    this.gone = true;
    this.socket.stop();
    this.onGone();
  }

  // Catch up past a resync's 200-message cap.
  pageAfter(after) {
    const url = `${this.cfg.urls.messages}?after=${after}&limit=${RESYNC_PAGE}`;
    this.api("GET", url).then(
      (r) => {
        if (r.status !== 200 || !r.data) {
          return;
        }
        (r.data.results || []).forEach((m) => {
          this.view.merge(m, "resync");
          this.noteSeq(m.seq);
        });
        if (r.data.has_more && r.data.results && r.data.results.length) {
          this.pageAfter(r.data.results[r.data.results.length - 1].seq);
        }
      },
      () => {
        /* offline: the next reconnect resyncs */
      },
    );
  }

  // After a gap in the connection, edits, deletions and read counts of the messages already
  // on screen may have changed: a resync only brings newer seqs, so reload the shown window.
  refreshWindow() {
    const seqs = this.view.seqs();
    if (!seqs.length) {
      return;
    }
    const oldest = Math.max(Math.min(...seqs), this.lastSeq - (RESYNC_PAGE - 1));
    const url = `${this.cfg.urls.messages}?after=${oldest - 1}&limit=${RESYNC_PAGE}`;
    this.api("GET", url).then(
      (r) => {
        if (r.status !== 200 || !r.data) {
          return;
        }
        (r.data.results || []).forEach((m) => this.view.merge(m, "refresh"));
      },
      () => {
        /* offline */
      },
    );
  }
}
