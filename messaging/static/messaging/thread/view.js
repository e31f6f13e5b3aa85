/* Kizuna contact-book thread: the list of messages on screen (#thread-messages).

   - Messages are merged by seq: one <li> per seq, in seq order, whichever way a message came
     (server-rendered, live event, resync, refresh, older page, the answer to our own post).
     A message already shown is re-rendered only when it was edited or deleted.
   - 既読 counts: the larger of the server's count and the count from the read marks known
     here (marks only grow, so duplicate events can never inflate it).
   - "さらに古いメッセージを表示" (#thread-older) loads the page before the oldest shown.
   - Hooks set by thread.js: onRendered(li, replaced) for every new or replaced <li> (the
     read tracker observes it); onPostShown(clientId) when a message with a client_id is in
     the list (the outbox drops its greyed copy). */

// What of a message's photos the page shows: each photo's id and state.
function photoKey(m) {
  return (m.attachments || []).map((a) => a.id + ":" + a.state).join(",");
}

export class ThreadView {
  constructor({ cfg, list, emptyNote, statusNode, renderer, api, str, stats }) {
    this.cfg = cfg;
    this.thread = cfg.thread;
    this.me = cfg.me;
    this.list = list;
    this.emptyNote = emptyNote;
    this.statusNode = statusNode;
    this.renderer = renderer;
    this.api = api;
    this.str = str;
    this.stats = stats;
    this.records = new Map(); // seq -> {seq, author, clientId, serverReadBy, edited, deleted, el}
    this.seqByClientId = new Map(); // client_id -> seq, to match a post to its message
    this.readMarks = new Map(); // user id (string) -> last read seq (only grows)
    Object.keys(cfg.readMarks || {}).forEach((uid) => {
      this.readMarks.set(uid, Number(cfg.readMarks[uid]) || 0);
    });
    this.onRendered = () => {};
    this.onPostShown = () => {};
  }

  // Start from what the server rendered.
  adoptServerRendered() {
    this.list.querySelectorAll("li.msg[data-seq]").forEach((li) => {
      const seq = Number(li.getAttribute("data-seq"));
      const rec = {
        seq,
        author: Number(li.getAttribute("data-author")),
        clientId: li.getAttribute("data-client-id"),
        serverReadBy: Number(li.getAttribute("data-read-by")) || 0,
        edited: li.getAttribute("data-edited") || "",
        deleted: li.getAttribute("data-deleted") === "1",
        photos: Array.from(li.querySelectorAll("figure.msg-photo[data-photo]"), (f) =>
          f.getAttribute("data-photo") + ":" + f.getAttribute("data-state"),
        ).join(","),
        el: li,
      };
      this.records.set(seq, rec);
      if (rec.clientId) {
        this.seqByClientId.set(rec.clientId, seq);
      }
    });
  }

  seqs() {
    return Array.from(this.records.keys());
  }

  elements() {
    return Array.from(this.records.values(), (rec) => rec.el);
  }

  // Is the message of this client_id in the list?
  shows(clientId) {
    return Boolean(this.seqByClientId.get(clientId));
  }

  readCount(rec) {
    // Both the server's count and the one from known read marks only undercount (marks only
    // grow), so the larger is the better one; duplicate events can never inflate it.
    let n = 0;
    this.readMarks.forEach((seq, uid) => {
      if (String(uid) !== String(rec.author) && seq >= rec.seq) {
        n++;
      }
    });
    return Math.max(n, rec.serverReadBy || 0);
  }

  showRead(rec) {
    const node = rec.el.querySelector(".msg-read");
    if (!node) {
      return;
    }
    const n = rec.deleted ? 0 : this.readCount(rec);
    const text = this.renderer.readLabel(n);
    if (node.textContent !== text) {
      node.textContent = text;
    }
    node.hidden = n === 0;
  }

  // userId has read up to seq (read.updated, or our own mark-read answer).
  applyRead(userId, seq) {
    const key = String(userId);
    if ((this.readMarks.get(key) || 0) >= seq) {
      return;
    }
    this.readMarks.set(key, seq);
    this.records.forEach((rec, s) => {
      if (s <= seq) {
        this.showRead(rec);
      }
    });
  }

  updateEmpty() {
    if (this.emptyNote) {
      this.emptyNote.hidden = this.list.children.length > 0;
    }
  }

  nearBottom() {
    const list = this.list;
    return list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  }

  scrollToBottom() {
    this.list.scrollTop = this.list.scrollHeight;
  }

  // Open at the first unread message: the "新着 N件" divider (#thread-new) at the top of the
  // list, or the newest message when everything was read.
  scrollToFirstUnread() {
    const divider = document.getElementById("thread-new");
    if (!divider || !this.list.contains(divider)) {
      this.scrollToBottom();
      return;
    }
    this.list.scrollTop += divider.getBoundingClientRect().top - this.list.getBoundingClientRect().top;
  }

  place(li, seq) {
    // Keep seq order: before the first shown message with a higher seq.
    const children = this.list.children;
    for (let i = 0; i < children.length; i++) {
      if (Number(children[i].getAttribute("data-seq")) > seq) {
        this.list.insertBefore(li, children[i]);
        return;
      }
    }
    this.list.appendChild(li);
  }

  // source: "live", "resync", "refresh", "older" or "post" (the answer to our own post).
  merge(m, source) {
    if (!m || Number(m.thread) !== this.thread || !m.seq) {
      return;
    }
    const seq = Number(m.seq);
    let rec = this.records.get(seq);
    if (rec) {
      rec.serverReadBy = Math.max(rec.serverReadBy || 0, Number(m.read_by) || 0);
      const changed =
        Boolean(m.deleted) !== rec.deleted ||
        (m.edited_at || "") !== rec.edited ||
        photoKey(m) !== rec.photos; // a photo's thumbnail is ready (attachments.ready)
      if (changed) {
        const fresh = this.renderer.message(m);
        this.list.replaceChild(fresh, rec.el);
        this.onRendered(fresh, rec.el);
        rec.el = fresh;
        rec.deleted = Boolean(m.deleted);
        rec.edited = m.edited_at || "";
        rec.photos = photoKey(m);
      }
      this.showRead(rec);
    } else {
      const stick = this.nearBottom();
      const li = this.renderer.message(m);
      rec = {
        seq,
        author: m.author ? m.author.id : null,
        clientId: m.client_id,
        serverReadBy: Number(m.read_by) || 0,
        edited: m.edited_at || "",
        deleted: Boolean(m.deleted),
        photos: photoKey(m),
        el: li,
      };
      this.records.set(seq, rec);
      this.place(li, seq);
      this.onRendered(li);
      this.showRead(rec);
      this.updateEmpty();
      if (source !== "older" && (stick || rec.author === this.me)) {
        this.scrollToBottom();
      }
      if (source === "resync") {
        this.stats.resyncMerged.push(seq);
      }
      if (source === "live") {
        this.stats.liveMerged.push(seq);
      }
    }
    if (m.client_id) {
      this.seqByClientId.set(m.client_id, seq);
      // Our own post is in the thread now: the greyed copy goes (the outbox entry stays until
      // the post itself is answered, so a lost answer is still retried and deduplicated).
      this.onPostShown(m.client_id);
    }
  }

  // "さらに古いメッセージを表示": fetch the page before data-before and merge it in place,
  // keeping the reader's place. Without JavaScript the link opens the server's older page.
  enableOlder(link) {
    if (!link) {
      return;
    }
    const list = this.list;
    link.addEventListener("click", (event) => {
      event.preventDefault();
      const before = Number(link.getAttribute("data-before"));
      if (!before) {
        return;
      }
      link.setAttribute("aria-busy", "true");
      const keepFrom = list.scrollHeight - list.scrollTop;
      const url = `${this.cfg.urls.messages}?before=${before}&limit=${this.cfg.pageSize || 50}`;
      this.api("GET", url)
        .then((r) => {
          link.removeAttribute("aria-busy");
          if (r.status !== 200 || !r.data) {
            throw new Error("older");
          }
          let oldest = before;
          (r.data.results || []).forEach((m) => {
            this.merge(m, "older");
            oldest = Math.min(oldest, Number(m.seq));
          });
          list.scrollTop = list.scrollHeight - keepFrom; // keep the reader's place
          link.setAttribute("data-before", String(oldest));
          link.href = link.href.replace(/before=\d*/, "before=" + oldest);
          if (!r.data.has_more) {
            link.parentNode.hidden = true;
          }
        })
        .catch(() => {
          link.removeAttribute("aria-busy");
          if (this.statusNode) {
            this.statusNode.textContent = this.str("older-failed");
          }
        });
    });
  }
}
