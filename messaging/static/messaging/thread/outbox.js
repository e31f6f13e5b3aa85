/* Kizuna contact-book thread: the outbox. Nothing the nurse pressed "send" on is lost.

   - A post is kept in localStorage (kizuna.outbox.<user>.<thread>: [{client_id, body, kind,
     priority, created}]) BEFORE anything is sent, and shown greyed in #thread-outbox as
     "送信待ち" until its message is in the thread. Posts left from an earlier visit (or a
     tab that was closed) are shown and sent when the page opens.
   - Sent oldest first, one at a time, so the thread keeps the order they were written in.
     While the socket is open a post goes over it (a "post" frame, answered by "ack" or by
     "error" with its client_id; no answer within 15 s: tried again); otherwise with
     POST /api/v1/threads/{id}/messages/. Every try of a post carries the same client_id, and
     the server keeps one message per client_id, whichever way each try came.
   - Only an ack or a 200/201 removes a post, or a refusal for good (too long, not on the team
     any more …), which is shown next to the post with its reason and gives the text back to
     the composer. Anything else (offline, 401/403/408/429, 5xx, server_error, rate_limited)
     waits and is tried again: on a timer (2, 4 … 60 s), when the browser comes online, and
     when the socket (re)opens. Over the person's rate (HTTP 429, or the socket's error frame
     "rate_limited"), the server says when: the timer waits that long (Retry-After,
     retry_after) and the post says why while it waits.
   - Each waiting post says honestly where it is (.msg-state, data-state on its <li>):
     送信待ち (queued), 送信中 (a try is out), 再試行中 N回目 with the reason of the last
     failure (offline, no answer, the server's error), and after GIVE_UP_AFTER failed tries
     or a sign-in that lapsed, 送信できません with what to do (it is still kept and tried).
   - A post with photos (item.photos: [{client_id, body_site, body_site_other, caption,
     attachment_id}], their Blobs in the photo store, media/photostore.js) first uploads each
     photo not uploaded yet (POST /api/v1/attachments/, with a progress bar on the greyed
     post; the same photo client_id on every try), notes each photo's attachment id in the
     kept post, and then posts with `attachments`. Offline, the photos wait on the device
     with the post. Once the post is stored, its photos are deleted from the device.
   - The composer is set by thread.js (outbox.composer) after both are made. */

import { deletePhoto, getPhoto } from "../../media/photostore.js";
import { uploadPhoto } from "../../media/upload.js";
import { el } from "./render.js";
import { load, save, remove } from "./storage.js";

const MAX_RETRY_S = 60;
const FIRST_RETRY_S = 2;
const ACK_TIMEOUT_MS = 15000;
const OWN_POST_WAIT_MS = 2000;
const GIVE_UP_AFTER = 4; // failed tries before a post says 送信できません (it is still tried)

// The API's one error shape: {"error": {"code", "message", "fields": {field: [text]}}}; the
// socket's error frame has code and message (and fields) at the top.
function errorText(data, fallback) {
  const lines = [];
  const error = data && data.error ? data.error : data;
  if (error && error.fields) {
    Object.keys(error.fields).forEach((key) => {
      (error.fields[key] || []).forEach((msg) => lines.push(String(msg)));
    });
  }
  if (!lines.length && error && error.message) {
    lines.push(String(error.message));
  }
  return lines.join(" ") || fallback;
}

export class Outbox {
  constructor({ cfg, key, list, renderer, view, sync, socket, api, str, stats }) {
    this.cfg = cfg;
    this.thread = cfg.thread;
    this.key = key;
    this.list = list; // #thread-outbox
    this.renderer = renderer;
    this.view = view;
    this.sync = sync;
    this.socket = socket;
    this.api = api;
    this.str = str;
    this.stats = stats;
    this.composer = null;
    this.items = []; // [{client_id, body, kind, priority, created}]
    this.pendingEls = new Map(); // client_id -> <li> in the outbox list
    this.sending = false;
    this.retryTimer = null;
    this.retryDelayS = FIRST_RETRY_S;
    this.inFlight = null; // the post sent over the socket and waiting for its ack: {clientId, timer}
  }

  // Posts left from an earlier visit (or another tab that was closed): show them.
  restore() {
    let stored = load(this.key, []);
    if (!Array.isArray(stored)) {
      stored = [];
    }
    this.items = stored.filter(
      (item) => item && typeof item.client_id === "string" && typeof item.body === "string",
    );
    this.items.forEach((item) => this.renderPending(item));
  }

  snapshot() {
    return this.items.slice();
  }

  // Kept on the device before anything is sent: a closed tab or a dead battery loses nothing.
  add(item) {
    this.items.push(item);
    this.persist();
    this.renderPending(item);
  }

  persist() {
    if (this.items.length) {
      return save(this.key, this.items);
    }
    remove(this.key);
    return true;
  }

  removeItem(clientId) {
    this.items = this.items.filter((item) => item.client_id !== clientId);
    this.persist();
  }

  renderPending(item) {
    if (this.pendingEls.has(item.client_id) || this.view.shows(item.client_id)) {
      return; // already shown, or already in the thread
    }
    const li = this.renderer.message(
      {
        thread: this.thread,
        seq: 0,
        author: null,
        body: item.body,
        kind: item.kind,
        priority: item.priority || (item.kind === "urgent" ? "urgent" : "routine"),
        mentions: [],
        client_id: item.client_id,
        created_at: new Date(item.created).toISOString(),
      },
      { pending: true },
    );
    li.classList.add("pending");
    li.removeAttribute("data-seq");
    if (item.photos && item.photos.length) {
      li.insertBefore(this.pendingPhotos(item), li.querySelector(".msg-foot"));
    }
    this.pendingEls.set(item.client_id, li);
    this.list.appendChild(li);
  }

  // The photos of a kept post, from the device, each with its upload's progress bar.
  pendingPhotos(item) {
    const box = el("div", "msg-photos pending-photos");
    item.photos.forEach((photo) => {
      const figure = el("figure", "msg-photo");
      figure.setAttribute("data-photo-client-id", photo.client_id);
      const img = el("img", "msg-photo-thumb");
      img.alt = this.str("photo");
      getPhoto(photo.client_id).then((blob) => {
        if (blob) {
          img.src = URL.createObjectURL(blob);
        }
      });
      figure.appendChild(img);
      const bar = el("progress", "photo-progress");
      bar.max = 1;
      bar.value = photo.attachment_id ? 1 : 0;
      bar.setAttribute("aria-label", this.str("photo-uploading"));
      figure.appendChild(bar);
      box.appendChild(figure);
    });
    return box;
  }

  setProgress(item, photo, fraction) {
    const li = this.pendingEls.get(item.client_id);
    const bar =
      li && li.querySelector('[data-photo-client-id="' + photo.client_id + '"] progress');
    if (bar) {
      bar.value = fraction;
    }
  }

  forgetPhotos(item) {
    (item.photos || []).forEach((photo) => deletePhoto(photo.client_id));
  }

  // Upload the first photo of the post not uploaded yet; then go on (flush) with the next
  // one or the post itself.
  uploadNext(item) {
    const photo = item.photos.filter((p) => !p.attachment_id)[0];
    getPhoto(photo.client_id).then((blob) => {
      if (!blob) {
        this.sending = false;
        this.postDone(item, "refused", { error: { message: this.str("photo-lost") } });
        return;
      }
      uploadPhoto(
        this.cfg.urls.attachments,
        {
          blob,
          clientId: photo.client_id,
          patient: this.cfg.patient,
          bodySite: photo.body_site,
          bodySiteOther: photo.body_site_other,
          caption: photo.caption,
        },
        (fraction) => this.setProgress(item, photo, fraction),
      ).then(
        (r) => {
          this.sending = false;
          if ((r.status === 200 || r.status === 201) && r.data && r.data.id) {
            photo.attachment_id = r.data.id;
            this.setProgress(item, photo, 1);
            this.persist();
            this.flush();
          } else if (r.status === 429) {
            this.rateLimited(item, r.data, r.retryAfter);
          } else if (r.status >= 400 && r.status < 500 && [401, 403, 408].indexOf(r.status) === -1) {
            this.postDone(item, "refused", r.data); // not a photo we take, too large …
          } else if (r.status === 401 || r.status === 403) {
            this.postDone(item, "later", r.data, this.str("login"), true);
          } else {
            this.postDone(item, "later", r.data, this.str("reason-server").replace("{code}", r.status));
          }
        },
        () => {
          this.sending = false; // offline: the photo waits on the device
          const reason = navigator.onLine ? this.str("reason-unreachable") : this.str("reason-offline");
          this.postDone(item, "later", null, reason);
        },
      );
    });
  }

  // Its message is in the thread: the greyed copy goes (a refused one stays with its reason).
  dropPendingEl(clientId) {
    const li = this.pendingEls.get(clientId);
    if (li && !li.classList.contains("failed")) {
      li.parentNode.removeChild(li);
      this.pendingEls.delete(clientId);
    }
  }

  // The server refused the post for good: show why next to it, and give the text back.
  failPending(item, text) {
    const str = this.str;
    const composer = this.composer;
    let li = this.pendingEls.get(item.client_id);
    if (!li) {
      this.renderPending(item);
      li = this.pendingEls.get(item.client_id);
    }
    if (!li) {
      return;
    }
    li.classList.add("failed");
    const state = li.querySelector(".msg-state");
    if (state) {
      state.textContent = str("failed") + ": " + text;
      state.setAttribute("role", "alert");
    }
    const discard = () => {
      if (li.parentNode) {
        li.parentNode.removeChild(li);
      }
      this.pendingEls.delete(item.client_id);
    };
    const actions = el("div", "msg-actions");
    const restore = el("button", "button small secondary", str("restore"));
    restore.type = "button";
    restore.addEventListener("click", () => {
      if (composer) {
        composer.giveBack(item, text);
        composer.focus();
      }
      discard();
    });
    const drop = el("button", "button small danger", str("discard"));
    drop.type = "button";
    drop.addEventListener("click", () => {
      this.forgetPhotos(item);
      discard();
    });
    actions.appendChild(restore);
    actions.appendChild(drop);
    li.querySelector(".msg-foot").appendChild(actions);
    if (composer && composer.isEmpty()) {
      // Nothing is being typed: put the text back at once so it is not lost.
      composer.giveBack(item, text);
    }
  }

  // The post's state in words (and data-state for the style and the tests).
  showState(item, state, text) {
    const li = this.pendingEls.get(item.client_id);
    if (!li) {
      return;
    }
    li.setAttribute("data-state", state);
    li.classList.toggle("stuck", state === "stuck");
    const node = li.querySelector(".msg-state");
    if (node && node.textContent !== text) {
      node.textContent = text;
    }
    if (node) {
      if (state === "stuck") {
        node.setAttribute("role", "alert");
      } else {
        node.removeAttribute("role");
      }
    }
  }

  // A try failed for a reason that may pass: say so, with the count of tries, and after
  // GIVE_UP_AFTER of them (or at once when `stuck`) what to do.
  showRetry(item, reason, stuck) {
    const n = item.attempts || 1;
    if (stuck || n >= GIVE_UP_AFTER) {
      const help = stuck ? "" : " " + this.str("stuck-help");
      this.showState(item, "stuck", this.str("stuck") + ": " + reason + help);
    } else {
      this.showState(item, "retrying", this.str("retrying").replace("{n}", String(n)) + ": " + reason);
    }
  }

  // Try again later: after `waitS` seconds when the server said so (over the rate), else
  // after the next of the growing delays.
  scheduleRetry(waitS) {
    window.clearTimeout(this.retryTimer);
    if (waitS > 0) {
      this.retryTimer = window.setTimeout(() => this.flush(), waitS * 1000);
      return;
    }
    this.retryTimer = window.setTimeout(() => this.flush(), this.retryDelayS * 1000);
    this.retryDelayS = Math.min(MAX_RETRY_S, this.retryDelayS * 2);
  }

  // Over the rate: the post waits (greyed, with the server's reason) and goes after waitS.
  rateLimited(item, data, waitS) {
    this.showState(item, "waiting", this.str("pending") + ": " + errorText(data, ""));
    this.scheduleRetry(waitS || FIRST_RETRY_S);
  }

  settleInFlight() {
    if (this.inFlight) {
      window.clearTimeout(this.inFlight.timer);
      this.inFlight = null;
    }
    this.sending = false;
  }

  // The post is stored: its message comes as a live event. The channel layer may drop that
  // event, so if it has not come soon, ask the database (resync) instead.
  awaitOwnPost(clientId) {
    window.setTimeout(() => {
      if (!this.view.shows(clientId) && !this.sync.gone) {
        this.sync.requestResync();
      }
    }, OWN_POST_WAIT_MS);
  }

  // A post is answered: stored ("ok"), refused for good ("refused": shown next to it, text
  // given back), or not now ("later": tried again).
  postDone(item, outcome, data, reason, stuck) {
    if (outcome === "later") {
      this.showRetry(item, reason || this.str("reason-unreachable"), stuck);
    }
    if (outcome === "ok") {
      this.retryDelayS = FIRST_RETRY_S;
      this.removeItem(item.client_id);
      this.forgetPhotos(item);
      this.flush();
    } else if (outcome === "refused") {
      this.removeItem(item.client_id);
      this.failPending(item, errorText(data, this.str("failed")));
      this.flush();
    } else {
      this.scheduleRetry();
    }
  }

  // The socket's answer to a post frame: "ack", or "error" with the post's client_id.
  answered(clientId, frame) {
    const item = this.items.filter((i) => i.client_id === clientId)[0];
    if (this.inFlight && this.inFlight.clientId === clientId) {
      this.settleInFlight();
    }
    if (!item) {
      return; // a late answer to a post already settled
    }
    if (frame.type === "ack") {
      if (!this.view.shows(clientId)) {
        this.awaitOwnPost(clientId);
      }
      this.postDone(item, "ok");
    } else if (frame.code === "rate_limited") {
      // Not a refusal of the post: it is kept, and sent again when the server says.
      this.rateLimited(item, frame, frame.retry_after);
    } else {
      // A server error may pass; everything else (too long, not on the team …) will not.
      this.postDone(
        item,
        frame.code === "server_error" ? "later" : "refused",
        frame,
        this.str("reason-server").replace("{code}", frame.code || ""),
      );
    }
  }

  // The socket closed. A post waiting for its ack is sent again (over HTTP now, same client_id).
  socketClosed() {
    if (this.inFlight) {
      window.setTimeout(() => this.flush(), 0);
      this.settleInFlight();
    }
  }

  // The browser is online again: send now, and start the retry delays over.
  online() {
    this.retryDelayS = FIRST_RETRY_S;
    this.flush();
  }

  postOverSocket(item, payload) {
    payload.type = "post";
    payload.thread = this.thread;
    if (!this.socket.send(payload)) {
      return false;
    }
    this.stats.socketPosts++;
    this.inFlight = {
      clientId: item.client_id,
      timer: window.setTimeout(() => {
        // No answer on a weak line: try again; the server keeps one message per client_id.
        this.settleInFlight();
        this.showRetry(item, this.str("reason-timeout"));
        this.scheduleRetry();
      }, ACK_TIMEOUT_MS),
    };
    return true;
  }

  postOverHttp(item, payload) {
    this.stats.httpPosts++;
    this.api("POST", this.cfg.urls.messages, payload).then(
      (r) => {
        this.sending = false;
        if (r.status === 200 || r.status === 201) {
          this.sync.noteSeq(r.data && r.data.seq);
          this.view.merge(r.data, "post");
          this.dropPendingEl(item.client_id);
          this.postDone(item, "ok");
        } else if (r.status === 429) {
          this.rateLimited(item, r.data, r.retryAfter);
        } else if (r.status >= 400 && r.status < 500 && [401, 403, 408].indexOf(r.status) === -1) {
          this.postDone(item, "refused", r.data); // too long, not a member any more …
        } else if (r.status === 401 || r.status === 403) {
          // Signed out (or the second factor lapsed): it cannot go until the person signs in.
          this.postDone(item, "later", r.data, this.str("login"), true);
        } else {
          this.postDone(item, "later", r.data, this.str("reason-server").replace("{code}", r.status));
        }
      },
      () => {
        this.sending = false; // offline or the server is unreachable: keep it and try again
        const reason = navigator.onLine ? this.str("reason-unreachable") : this.str("reason-offline");
        this.postDone(item, "later", null, reason);
      },
    );
  }

  // Send the outbox oldest first, one at a time, so the thread keeps the order they were
  // written in. Stops at the first post that cannot go now and retries later.
  flush() {
    if (this.sending || this.sync.gone) {
      return;
    }
    const item = this.items[0];
    if (!item) {
      return;
    }
    window.clearTimeout(this.retryTimer);
    if (!navigator.onLine) {
      this.showState(item, "waiting", this.str("pending") + ": " + this.str("reason-offline"));
      this.scheduleRetry(); // the "online" event sends it sooner
      return;
    }
    this.sending = true;
    if (item.photos && item.photos.some((p) => !p.attachment_id)) {
      // An upload is a try of the post too: a failing one counts towards 送信できません.
      item.attempts = (item.attempts || 0) + 1;
      this.showState(item, "sending", this.str("sending"));
      this.uploadNext(item);
      return;
    }
    item.attempts = (item.attempts || 0) + 1;
    this.showState(item, "sending", this.str("sending"));
    const payload = { client_id: item.client_id, body: item.body, kind: item.kind };
    if (item.priority) {
      payload.priority = item.priority;
    }
    if (item.reply_to) {
      payload.reply_to = item.reply_to;
    }
    if (item.photos && item.photos.length) {
      payload.attachments = item.photos.map((p) => p.attachment_id);
    }
    if (!this.postOverSocket(item, payload)) {
      this.postOverHttp(item, payload);
    }
  }
}
