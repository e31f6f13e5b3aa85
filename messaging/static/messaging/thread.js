/* Kizuna contact-book thread (連絡帳) on the patient page: live updates, an offline outbox,
   mark-read. Plain JS, no build step, no inline handlers (a strict CSP may forbid inline script).

   - One WebSocket to /ws/ (docs/events.md). Events are merged by seq: a message is never shown
     twice and the list stays in seq order. A seq gap, and every (re)connect, sends "resync"
     with the last seq seen; the answer is merged the same way. Close code 4000 reconnects at
     once; anything else waits 1, 2, 4 … 30 s.
   - Posts go through an outbox kept in localStorage BEFORE sending, keyed by user and thread,
     under a client-made client_id. While the socket is open a post goes over it (a "post"
     frame, answered by an "ack" or an "error" frame naming its client_id); otherwise with
     POST /api/v1/threads/{id}/messages/. A failed or offline post stays "送信待ち" and is
     retried with the same client_id (the server is idempotent on it, whichever way it came)
     when the browser comes online, when the socket reconnects, and on a timer. Only an ack or
     a 200/201, or a refusal whose error is shown next to the post, removes it.
   - Read marks: the newest message on screen while the page is visible is posted to
     /read/ (debounced); 既読 counts follow read.updated live.
   - Every string shown comes translated from data-str-* attributes of #thread-card.
   - localStorage keys all start with "kizuna." and are removed at logout. */
(function () {
  "use strict";

  var card = document.getElementById("thread-card");
  var dataNode = document.getElementById("thread-data");
  if (!card || !dataNode) {
    return;
  }
  var cfg = JSON.parse(dataNode.textContent);
  var THREAD = cfg.thread;
  var ME = cfg.me;
  var STORAGE_PREFIX = "kizuna.";
  var OUTBOX_KEY = STORAGE_PREFIX + "outbox." + ME + "." + THREAD;
  var DRAFT_KEY = STORAGE_PREFIX + "draft." + ME + "." + THREAD;
  var SEQ_KEY = STORAGE_PREFIX + "seq." + ME;
  var MAX_BACKOFF_S = 30;
  var MAX_RETRY_S = 60;
  var READ_DEBOUNCE_MS = 800;
  var STALE_PAGE_MS = 60 * 1000;

  var list = document.getElementById("thread-messages");
  var outboxList = document.getElementById("thread-outbox");
  var emptyNote = document.getElementById("thread-empty");
  var statusNode = document.getElementById("thread-status");
  var form = document.getElementById("thread-composer");
  var bodyField = document.getElementById("thread-body");
  var bodyError = document.getElementById("thread-body-error");
  var kindField = document.getElementById("thread-kind");
  var priorityField = document.getElementById("thread-priority");
  var olderLink = document.getElementById("thread-older");

  function str(name) {
    return card.getAttribute("data-str-" + name) || "";
  }

  // --- storage (best effort: private modes and full disks must not break the page) -------

  function load(key, fallback) {
    try {
      var raw = window.localStorage.getItem(key);
      return raw ? JSON.parse(raw) : fallback;
    } catch (e) {
      return fallback;
    }
  }

  function save(key, value) {
    try {
      window.localStorage.setItem(key, JSON.stringify(value));
      return true;
    } catch (e) {
      return false;
    }
  }

  function clearLocalData() {
    try {
      var doomed = [];
      for (var i = 0; i < window.localStorage.length; i++) {
        var key = window.localStorage.key(i);
        if (key && key.indexOf(STORAGE_PREFIX) === 0) {
          doomed.push(key);
        }
      }
      doomed.forEach(function (key) { window.localStorage.removeItem(key); });
    } catch (e) { /* nothing stored */ }
  }
  // kizuna.js may call this from its own logout/login-page clearing.
  window.kizunaClearLocalData = clearLocalData;

  // --- state ----------------------------------------------------------------------------

  var records = {};          // seq -> {seq, author, clientId, serverReadBy, edited, deleted, el}
  var seqByClientId = {};    // client_id -> seq, to match a post to its message
  var readMarks = {};        // user id -> last read seq (only grows)
  var lastSeq = Number(cfg.lastSeq) || 0;
  var outbox = [];           // [{client_id, body, kind, priority, created}]
  var pendingEls = {};       // client_id -> <li> in the outbox list
  var gone = false;          // the thread was taken away from this user
  var stats = {
    resyncs: 0, resyncMerged: [], liveMerged: [], reconnects: 0, socketPosts: 0, httpPosts: 0
  };

  Object.keys(cfg.readMarks || {}).forEach(function (uid) {
    readMarks[uid] = Number(cfg.readMarks[uid]) || 0;
  });

  function rememberSeq() {
    var seqs = load(SEQ_KEY, {});
    if (typeof seqs !== "object" || seqs === null) {
      seqs = {};
    }
    if ((seqs[THREAD] || 0) < lastSeq) {
      seqs[THREAD] = lastSeq;
      save(SEQ_KEY, seqs);
    }
  }

  // --- rendering --------------------------------------------------------------------------

  var TIME_FORMAT = card.getAttribute("data-time-format") || "Y-m-d H:i";
  var TIME_ZONE = card.getAttribute("data-time-zone") || "Asia/Tokyo";
  var timeParts = null;
  try {
    timeParts = new Intl.DateTimeFormat("en-US", {
      timeZone: TIME_ZONE, year: "numeric", month: "numeric", day: "numeric",
      hour: "numeric", minute: "numeric", hourCycle: "h23"
    });
  } catch (e) {
    timeParts = null;
  }

  function pad(n) {
    return (n < 10 ? "0" : "") + n;
  }

  // The few Django date-format letters the translated format uses (Y m n d j H G i), in the
  // server's time zone, so a live message reads exactly like a server-rendered one.
  function formatTime(iso) {
    var date = new Date(iso);
    if (isNaN(date.getTime())) {
      return "";
    }
    var p = {};
    if (timeParts) {
      timeParts.formatToParts(date).forEach(function (part) { p[part.type] = part.value; });
    } else {
      p = { year: date.getFullYear(), month: date.getMonth() + 1, day: date.getDate(),
        hour: date.getHours(), minute: date.getMinutes() };
    }
    var y = Number(p.year), mo = Number(p.month), d = Number(p.day);
    var h = Number(p.hour) % 24, mi = Number(p.minute);
    var map = { Y: String(y), m: pad(mo), n: String(mo), d: pad(d), j: String(d),
      H: pad(h), G: String(h), i: pad(mi) };
    var out = "";
    for (var i = 0; i < TIME_FORMAT.length; i++) {
      var c = TIME_FORMAT.charAt(i);
      if (c === "\\" && i + 1 < TIME_FORMAT.length) {
        out += TIME_FORMAT.charAt(++i);
      } else {
        out += Object.prototype.hasOwnProperty.call(map, c) ? map[c] : c;
      }
    }
    return out;
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined && text !== null) {
      node.textContent = text;
    }
    return node;
  }

  function optionLabel(select, value) {
    if (!select) {
      return value;
    }
    for (var i = 0; i < select.options.length; i++) {
      if (select.options[i].value === value) {
        return select.options[i].textContent;
      }
    }
    return value;
  }

  // The mention rule of messaging.services.MENTION_RE, without look-behind (older Safari):
  // an @name not preceded by a name character.
  var MENTION = /(^|[^A-Za-z0-9_.+\-@])@([A-Za-z0-9_.+\-]*[A-Za-z0-9_+])/g;

  function fillBody(p, body, mentions) {
    var names = {};
    (mentions || []).forEach(function (u) { names[u.username] = true; });
    var pos = 0;
    var match;
    MENTION.lastIndex = 0;
    while ((match = MENTION.exec(body)) !== null) {
      var at = match.index + match[1].length;
      if (names[match[2]]) {
        if (at > pos) {
          p.appendChild(document.createTextNode(body.slice(pos, at)));
        }
        p.appendChild(el("mark", "mention", "@" + match[2]));
        pos = at + 1 + match[2].length;
      }
      if (match[0].length === 0) {
        MENTION.lastIndex++;
      }
    }
    if (pos < body.length) {
      p.appendChild(document.createTextNode(body.slice(pos)));
    }
  }

  function readLabel(n) {
    return str("read").replace("{n}", String(n));
  }

  // Mirrors messaging/templates/messaging/partials/message.html.
  function renderMessage(m, opts) {
    opts = opts || {};
    var authorId = m.author ? m.author.id : ME;
    var li = el("li", "msg");
    if (m.deleted) { li.classList.add("deleted"); }
    if (m.priority && m.priority !== "routine") { li.classList.add("priority-" + m.priority); }
    if (authorId === ME) { li.classList.add("mine"); }
    if (m.seq) {
      li.id = "msg-" + m.seq;
      li.setAttribute("data-seq", String(m.seq));
    }
    li.setAttribute("data-author", String(authorId));
    li.setAttribute("data-client-id", m.client_id || "");

    var head = el("div", "msg-head");
    head.appendChild(el("span", "msg-author", m.author ? m.author.display_name : cfg.meName));
    var org = (cfg.organizations || {})[String(authorId)];
    if (org) {
      head.appendChild(el("span", "msg-org", org));
    }
    if (!m.deleted) {
      head.appendChild(el("span", "badge msg-kind kind-" + m.kind, optionLabel(kindField, m.kind)));
      if (m.priority && m.priority !== "routine") {
        head.appendChild(el("span", "badge msg-priority prio-" + m.priority,
          optionLabel(priorityField, m.priority)));
      }
    }
    if (m.created_at) {
      var time = el("time", "msg-time", formatTime(m.created_at));
      time.setAttribute("datetime", m.created_at);
      head.appendChild(time);
    }
    if (m.edited_at && !m.deleted) {
      head.appendChild(el("span", "msg-edited", str("edited")));
    }
    li.appendChild(head);

    if (m.deleted) {
      li.appendChild(el("p", "msg-body tombstone", str("deleted")));
    } else {
      var p = el("p", "msg-body");
      fillBody(p, m.body || "", m.mentions);
      li.appendChild(p);
    }
    var foot = el("div", "msg-foot");
    if (opts.pending) {
      foot.appendChild(el("span", "msg-state", str("pending")));
    } else {
      var read = el("span", "msg-read", "");
      read.hidden = true;
      foot.appendChild(read);
    }
    li.appendChild(foot);
    return li;
  }

  function readCount(rec) {
    // Both the server's count and the one from known read marks only undercount (marks only
    // grow), so the larger is the better one; duplicate events can never inflate it.
    var n = 0;
    Object.keys(readMarks).forEach(function (uid) {
      if (String(uid) !== String(rec.author) && readMarks[uid] >= rec.seq) {
        n++;
      }
    });
    return Math.max(n, rec.serverReadBy || 0);
  }

  function showRead(rec) {
    var node = rec.el.querySelector(".msg-read");
    if (!node) {
      return;
    }
    var n = rec.deleted ? 0 : readCount(rec);
    var text = readLabel(n);
    if (node.textContent !== text) {
      node.textContent = text;
    }
    node.hidden = n === 0;
  }

  function updateEmpty() {
    if (emptyNote) {
      emptyNote.hidden = list.children.length > 0;
    }
  }

  // --- merging messages by seq ------------------------------------------------------------

  function nearBottom() {
    return list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  }

  function scrollToBottom() {
    list.scrollTop = list.scrollHeight;
  }

  function place(li, seq) {
    // Keep seq order: before the first shown message with a higher seq.
    var children = list.children;
    for (var i = 0; i < children.length; i++) {
      if (Number(children[i].getAttribute("data-seq")) > seq) {
        list.insertBefore(li, children[i]);
        return;
      }
    }
    list.appendChild(li);
  }

  function merge(m, source) {
    if (!m || Number(m.thread) !== THREAD || !m.seq) {
      return;
    }
    var seq = Number(m.seq);
    var rec = records[seq];
    if (rec) {
      rec.serverReadBy = Math.max(rec.serverReadBy || 0, Number(m.read_by) || 0);
      var changed = Boolean(m.deleted) !== rec.deleted || (m.edited_at || "") !== rec.edited;
      if (changed) {
        var fresh = renderMessage(m);
        list.replaceChild(fresh, rec.el);
        observe(fresh, rec.el);
        rec.el = fresh;
        rec.deleted = Boolean(m.deleted);
        rec.edited = m.edited_at || "";
      }
      showRead(rec);
    } else {
      var stick = nearBottom();
      var li = renderMessage(m);
      rec = {
        seq: seq, author: m.author ? m.author.id : null, clientId: m.client_id,
        serverReadBy: Number(m.read_by) || 0, edited: m.edited_at || "",
        deleted: Boolean(m.deleted), el: li
      };
      records[seq] = rec;
      place(li, seq);
      observe(li);
      showRead(rec);
      updateEmpty();
      if (source !== "older" && (stick || rec.author === ME)) {
        scrollToBottom();
      }
      if (source === "resync") { stats.resyncMerged.push(seq); }
      if (source === "live") { stats.liveMerged.push(seq); }
    }
    if (m.client_id) {
      seqByClientId[m.client_id] = seq;
      // Our own post is in the thread now: the greyed copy goes (the outbox entry stays until
      // the POST itself is answered, so a lost answer is still retried and deduplicated).
      dropPendingEl(m.client_id);
    }
  }

  function noteSeq(seq) {
    seq = Number(seq) || 0;
    if (seq > lastSeq + 1) {
      requestResync();
    }
    if (seq > lastSeq) {
      lastSeq = seq;
      rememberSeq();
    }
  }

  // Start from what the server rendered.
  Array.prototype.forEach.call(list.querySelectorAll("li.msg[data-seq]"), function (li) {
    var seq = Number(li.getAttribute("data-seq"));
    var rec = {
      seq: seq,
      author: Number(li.getAttribute("data-author")),
      clientId: li.getAttribute("data-client-id"),
      serverReadBy: Number(li.getAttribute("data-read-by")) || 0,
      edited: li.getAttribute("data-edited") || "",
      deleted: li.getAttribute("data-deleted") === "1",
      el: li
    };
    records[seq] = rec;
    if (rec.clientId) {
      seqByClientId[rec.clientId] = seq;
    }
  });
  rememberSeq();
  scrollToBottom();

  // --- the socket ------------------------------------------------------------------------

  var ws = null;
  var attempts = 0;
  var reconnectTimer = null;
  var openedBefore = false;
  var resyncWaiting = false;

  function setLive(state) {
    card.setAttribute("data-live", state);
    var text = "";
    if (gone) {
      text = str("gone");
    } else if (!navigator.onLine) {
      text = str("offline");
    } else if (state === "open") {
      text = str("live");
    } else if (state === "connecting") {
      text = str("connecting");
    } else {
      text = str("reconnecting");
    }
    if (statusNode && statusNode.textContent !== text) {
      statusNode.textContent = text;
    }
  }

  function sendFrame(frame) {
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  function requestResync() {
    var threads = {};
    threads[THREAD] = lastSeq;
    if (sendFrame({ type: "resync", threads: threads })) {
      resyncWaiting = true;
      stats.resyncs++;
    }
  }

  function scheduleReconnect(delayMs) {
    window.clearTimeout(reconnectTimer);
    reconnectTimer = window.setTimeout(connect, delayMs);
  }

  function connect() {
    if (gone || (ws && (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN))) {
      return;
    }
    window.clearTimeout(reconnectTimer);
    var url = (window.location.protocol === "https:" ? "wss://" : "ws://") +
      window.location.host + (cfg.urls.socket || "/ws/");
    var sock;
    try {
      sock = new WebSocket(url);
    } catch (e) {
      backoff();
      return;
    }
    ws = sock;
    setLive("connecting");
    sock.onopen = function () {
      if (sock !== ws) { return; }
      attempts = 0;
      setLive("open");
      // Never trust the stream before catching up from the database.
      requestResync();
      if (openedBefore) {
        stats.reconnects++;
        refreshWindow();
      } else if (Date.now() - (Number(cfg.renderedAt) || Date.now()) > STALE_PAGE_MS) {
        refreshWindow();  // a page from the service worker's cache: edits may be missing
      }
      openedBefore = true;
      flushOutbox();
    };
    sock.onmessage = function (event) {
      if (sock !== ws) { return; }
      var frame;
      try {
        frame = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      handleFrame(frame);
    };
    sock.onclose = function (event) {
      if (sock !== ws) { return; }
      ws = null;
      setLive("closed");
      if (gone) { return; }
      if (inFlight) {
        // Its ack went down with the socket: send it again (over HTTP now, same client_id).
        window.setTimeout(flushOutbox, 0);
        settleInFlight();
      }
      if (event.code === 4003) {
        // Signed out (deactivated or password changed): the session is gone; go and log in.
        window.location.reload();
      } else if (event.code === 4000 || event.code === 4001) {
        // 4000: the server's planned cycle; 4001: this user's access changed. Come straight
        // back; the resync answer says which threads are gone.
        scheduleReconnect(0);
      } else {
        backoff();
      }
    };
    sock.onerror = function () { /* onclose follows */ };
  }

  function backoff() {
    var delay = Math.min(MAX_BACKOFF_S, Math.pow(2, attempts));
    attempts++;
    scheduleReconnect(delay * 1000);
  }

  function handleFrame(frame) {
    if (!frame || typeof frame !== "object") {
      return;
    }
    switch (frame.type) {
      case "ping":
        sendFrame({ type: "pong" });
        break;
      case "message.new":
        if (Number(frame.thread) !== THREAD) { return; }
        noteSeq(frame.seq);
        merge(frame.message, "live");
        break;
      case "message.edited":
      case "message.deleted":
        if (Number(frame.thread) !== THREAD) { return; }
        if (Number(frame.seq) > lastSeq) { noteSeq(frame.seq); }
        merge(frame.message, "live");
        break;
      case "read.updated":
        if (Number(frame.thread) !== THREAD || !frame.user) { return; }
        applyRead(frame.user.id, Number(frame.seq));
        break;
      case "resync":
        applyResync(frame);
        break;
      case "ack":
        postAnswered(frame.client_id, frame);
        break;
      case "error":
        if (frame.client_id) { postAnswered(frame.client_id, frame); }
        break;
      default:
        break;  // pong: nothing to do
    }
  }

  function applyRead(userId, seq) {
    var key = String(userId);
    if ((readMarks[key] || 0) >= seq) {
      return;
    }
    readMarks[key] = seq;
    Object.keys(records).forEach(function (s) {
      if (Number(s) <= seq) { showRead(records[s]); }
    });
  }

  function applyResync(frame) {
    resyncWaiting = false;
    if ((frame.removed || []).map(Number).indexOf(THREAD) !== -1) {
      goAway();
      return;
    }
    var entry = (frame.threads || {})[String(THREAD)];
    if (!entry) {
      return;
    }
    var newest = lastSeq;
    (entry.messages || []).forEach(function (m) {
      merge(m, "resync");
      newest = Math.max(newest, Number(m.seq));
    });
    if (newest > lastSeq) {
      lastSeq = newest;
      rememberSeq();
    }
    if (entry.has_more) {
      pageAfter(lastSeq);
    }
    scheduleReadCheck();
  }

  function goAway() {
    gone = true;
    setLive("closed");
    if (ws) { try { ws.close(); } catch (e) { /* already closed */ } }
    if (form) {
      Array.prototype.forEach.call(form.elements, function (f) { f.disabled = true; });
    }
  }

  // --- HTTP -------------------------------------------------------------------------------

  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (match) {
      return decodeURIComponent(match[1]);
    }
    var field = form ? form.querySelector("input[name=csrfmiddlewaretoken]") : null;
    return field ? field.value : "";
  }

  function api(method, url, payload) {
    var init = {
      method: method,
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-Requested-With": "XMLHttpRequest" }
    };
    if (payload !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.headers["X-CSRFToken"] = csrfToken();
      init.body = JSON.stringify(payload);
    }
    return fetch(url, init).then(function (response) {
      return response.json().catch(function () { return null; }).then(function (data) {
        return { status: response.status, data: data };
      });
    });
  }

  // Catch up past a resync's 200-message cap.
  function pageAfter(after) {
    api("GET", cfg.urls.messages + "?after=" + after + "&limit=200").then(function (r) {
      if (r.status !== 200 || !r.data) { return; }
      (r.data.results || []).forEach(function (m) {
        merge(m, "resync");
        noteSeq(m.seq);
      });
      if (r.data.has_more && r.data.results && r.data.results.length) {
        pageAfter(r.data.results[r.data.results.length - 1].seq);
      }
    }, function () { /* offline: the next reconnect resyncs */ });
  }

  // After a gap in the connection, edits, deletions and read counts of the messages already
  // on screen may have changed: a resync only brings newer seqs, so reload the shown window.
  function refreshWindow() {
    var seqs = Object.keys(records).map(Number);
    if (!seqs.length) { return; }
    var oldest = Math.max(Math.min.apply(null, seqs), lastSeq - 199);
    api("GET", cfg.urls.messages + "?after=" + (oldest - 1) + "&limit=200").then(function (r) {
      if (r.status !== 200 || !r.data) { return; }
      (r.data.results || []).forEach(function (m) { merge(m, "refresh"); });
    }, function () { /* offline */ });
  }

  // --- load older -------------------------------------------------------------------------

  if (olderLink) {
    olderLink.addEventListener("click", function (event) {
      event.preventDefault();
      var before = Number(olderLink.getAttribute("data-before"));
      if (!before) { return; }
      olderLink.setAttribute("aria-busy", "true");
      var keepFrom = list.scrollHeight - list.scrollTop;
      api("GET", cfg.urls.messages + "?before=" + before + "&limit=" + (cfg.pageSize || 50))
        .then(function (r) {
          olderLink.removeAttribute("aria-busy");
          if (r.status !== 200 || !r.data) { throw new Error("older"); }
          var oldest = before;
          (r.data.results || []).forEach(function (m) {
            merge(m, "older");
            oldest = Math.min(oldest, Number(m.seq));
          });
          list.scrollTop = list.scrollHeight - keepFrom;  // keep the reader's place
          olderLink.setAttribute("data-before", String(oldest));
          olderLink.href = olderLink.href.replace(/before=\d*/, "before=" + oldest);
          if (!r.data.has_more) {
            olderLink.parentNode.hidden = true;
          }
        })
        .catch(function () {
          olderLink.removeAttribute("aria-busy");
          if (statusNode) { statusNode.textContent = str("older-failed"); }
        });
    });
  }

  // --- the outbox -------------------------------------------------------------------------

  function newClientId() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    // crypto.randomUUID needs a secure context; getRandomValues does not.
    var bytes = new Uint8Array(16);
    if (window.crypto && window.crypto.getRandomValues) {
      window.crypto.getRandomValues(bytes);
    } else {
      for (var i = 0; i < 16; i++) { bytes[i] = Math.floor(Math.random() * 256); }
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;  // version 4
    bytes[8] = (bytes[8] & 0x3f) | 0x80;  // RFC 4122 variant
    var hex = Array.prototype.map.call(bytes, function (b) {
      return (b < 16 ? "0" : "") + b.toString(16);
    }).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" +
      hex.slice(16, 20) + "-" + hex.slice(20);
  }

  function persistOutbox() {
    if (outbox.length) {
      return save(OUTBOX_KEY, outbox);
    }
    try { window.localStorage.removeItem(OUTBOX_KEY); } catch (e) { /* nothing stored */ }
    return true;
  }

  function renderPending(item) {
    if (pendingEls[item.client_id] || seqByClientId[item.client_id]) {
      return;  // already shown, or already in the thread
    }
    var li = renderMessage({
      thread: THREAD, seq: 0, author: null, body: item.body, kind: item.kind,
      priority: item.priority || (item.kind === "urgent" ? "urgent" : "routine"),
      mentions: [], client_id: item.client_id, created_at: new Date(item.created).toISOString()
    }, { pending: true });
    li.classList.add("pending");
    li.removeAttribute("data-seq");
    pendingEls[item.client_id] = li;
    outboxList.appendChild(li);
  }

  function dropPendingEl(clientId) {
    var li = pendingEls[clientId];
    if (li && !li.classList.contains("failed")) {
      li.parentNode.removeChild(li);
      delete pendingEls[clientId];
    }
  }

  function removeFromOutbox(clientId) {
    outbox = outbox.filter(function (item) { return item.client_id !== clientId; });
    persistOutbox();
  }

  // The API's one error shape: {"error": {"code", "message", "fields": {field: [text]}}}.
  function errorText(data) {
    var lines = [];
    data = data && data.error ? data.error : data;
    if (data && data.fields) {
      Object.keys(data.fields).forEach(function (key) {
        (data.fields[key] || []).forEach(function (msg) { lines.push(String(msg)); });
      });
    }
    if (!lines.length && data && data.message) {
      lines.push(String(data.message));
    }
    return lines.join(" ") || str("failed");
  }

  function setComposerError(text) {
    if (!bodyError) { return; }
    bodyError.textContent = text || "";
    bodyError.hidden = !text;
    if (text) {
      bodyField.setAttribute("aria-invalid", "true");
    } else {
      bodyField.removeAttribute("aria-invalid");
    }
  }

  function restoreToComposer(item) {
    bodyField.value = item.body;
    if (kindField) { kindField.value = item.kind; }
    if (priorityField) { priorityField.value = item.priority || ""; }
    saveDraft();
  }

  // The server refused the post for good: show why next to it, and give the text back.
  function failPending(item, text) {
    var li = pendingEls[item.client_id];
    if (!li) {
      renderPending(item);
      li = pendingEls[item.client_id];
    }
    if (!li) { return; }
    li.classList.add("failed");
    var state = li.querySelector(".msg-state");
    if (state) {
      state.textContent = str("failed") + ": " + text;
      state.setAttribute("role", "alert");
    }
    var actions = el("div", "msg-actions");
    var restore = el("button", "button small secondary", str("restore"));
    restore.type = "button";
    restore.addEventListener("click", function () {
      restoreToComposer(item);
      setComposerError(text);
      bodyField.focus();
      discard();
    });
    var drop = el("button", "button small danger", str("discard"));
    drop.type = "button";
    drop.addEventListener("click", discard);
    function discard() {
      if (li.parentNode) { li.parentNode.removeChild(li); }
      delete pendingEls[item.client_id];
    }
    actions.appendChild(restore);
    actions.appendChild(drop);
    li.querySelector(".msg-foot").appendChild(actions);
    if (!bodyField.value.trim()) {
      // Nothing is being typed: put the text back at once so it is not lost.
      restoreToComposer(item);
      setComposerError(text);
    }
  }

  var sending = false;
  var retryTimer = null;
  var retryDelayS = 2;

  function scheduleRetry() {
    window.clearTimeout(retryTimer);
    retryTimer = window.setTimeout(flushOutbox, retryDelayS * 1000);
    retryDelayS = Math.min(MAX_RETRY_S, retryDelayS * 2);
  }

  // The post sent over the socket and waiting for its ack: {clientId, timer}.
  var inFlight = null;
  var ACK_TIMEOUT_MS = 15000;
  var OWN_POST_WAIT_MS = 2000;

  function settleInFlight() {
    if (inFlight) {
      window.clearTimeout(inFlight.timer);
      inFlight = null;
    }
    sending = false;
  }

  // The post is stored: its message comes as a live event. The channel layer may drop that
  // event, so if it has not come soon, ask the database (resync) instead.
  function awaitOwnPost(clientId) {
    window.setTimeout(function () {
      if (!seqByClientId[clientId] && !gone) { requestResync(); }
    }, OWN_POST_WAIT_MS);
  }

  // A post is answered: stored (`ok`), refused for good (shown next to it, text given back),
  // or not now (tried again later).
  function postDone(item, outcome, data) {
    if (outcome === "ok") {
      retryDelayS = 2;
      removeFromOutbox(item.client_id);
      flushOutbox();
    } else if (outcome === "refused") {
      removeFromOutbox(item.client_id);
      failPending(item, errorText(data));
      flushOutbox();
    } else {
      scheduleRetry();
    }
  }

  // The socket's answer to a post frame: "ack", or "error" with the post's client_id.
  function postAnswered(clientId, frame) {
    var item = outbox.filter(function (i) { return i.client_id === clientId; })[0];
    if (inFlight && inFlight.clientId === clientId) { settleInFlight(); }
    if (!item) { return; }  // a late answer to a post already settled
    if (frame.type === "ack") {
      if (!seqByClientId[clientId]) { awaitOwnPost(clientId); }
      postDone(item, "ok");
    } else {
      // A server error may pass; everything else (too long, not on the team …) will not.
      postDone(item, frame.code === "server_error" ? "later" : "refused", frame);
    }
  }

  function postOverSocket(item, payload) {
    payload.type = "post";
    payload.thread = THREAD;
    if (!sendFrame(payload)) { return false; }
    stats.socketPosts++;
    inFlight = {
      clientId: item.client_id,
      timer: window.setTimeout(function () {
        // No answer on a weak line: try again; the server keeps one message per client_id.
        settleInFlight();
        scheduleRetry();
      }, ACK_TIMEOUT_MS)
    };
    return true;
  }

  function postOverHttp(item, payload) {
    stats.httpPosts++;
    api("POST", cfg.urls.messages, payload).then(function (r) {
      sending = false;
      if (r.status === 200 || r.status === 201) {
        noteSeq(r.data && r.data.seq);
        merge(r.data, "post");
        dropPendingEl(item.client_id);
        postDone(item, "ok");
      } else if (r.status >= 400 && r.status < 500 && [401, 403, 408, 429].indexOf(r.status) === -1) {
        postDone(item, "refused", r.data);  // too long, not a member any more …
      } else {
        if (r.status === 401 || r.status === 403) {
          var li = pendingEls[item.client_id];
          var state = li && li.querySelector(".msg-state");
          if (state) { state.textContent = str("pending") + ": " + str("login"); }
        }
        postDone(item, "later");
      }
    }, function () {
      sending = false;  // offline or the server is unreachable: keep it and try again
      postDone(item, "later");
    });
  }

  // Send the outbox oldest first, one at a time, so the thread keeps the order they were
  // written in. Stops at the first post that cannot go now and retries later.
  function flushOutbox() {
    if (sending || gone) { return; }
    var item = outbox[0];
    if (!item) { return; }
    window.clearTimeout(retryTimer);
    if (!navigator.onLine) {
      scheduleRetry();  // the "online" event sends it sooner
      return;
    }
    sending = true;
    var payload = { client_id: item.client_id, body: item.body, kind: item.kind };
    if (item.priority) { payload.priority = item.priority; }
    if (!postOverSocket(item, payload)) {
      postOverHttp(item, payload);
    }
  }

  function saveDraft() {
    var text = bodyField.value;
    if (text) {
      save(DRAFT_KEY, text);
    } else {
      try { window.localStorage.removeItem(DRAFT_KEY); } catch (e) { /* nothing stored */ }
    }
  }

  if (form && bodyField) {
    var draft = load(DRAFT_KEY, "");
    if (typeof draft === "string" && draft && !bodyField.value) {
      bodyField.value = draft;
    }
    var draftTimer = null;
    bodyField.addEventListener("input", function () {
      window.clearTimeout(draftTimer);
      draftTimer = window.setTimeout(saveDraft, 300);
      if (bodyError && !bodyError.hidden) { setComposerError(null); }
    });
    if (kindField && priorityField) {
      kindField.addEventListener("change", function () {
        if (kindField.value === "urgent" && !priorityField.value) {
          priorityField.value = "urgent";
        }
      });
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var text = bodyField.value;
      if (!text.trim()) {
        setComposerError(str("empty"));
        bodyField.focus();
        return;
      }
      setComposerError(null);
      var item = {
        client_id: newClientId(),
        body: text,
        kind: kindField ? kindField.value : "note",
        priority: priorityField ? priorityField.value : "",
        created: Date.now()
      };
      // Kept on the device before anything is sent: a closed tab or a dead battery loses
      // nothing that the nurse pressed "send" on.
      outbox.push(item);
      persistOutbox();
      renderPending(item);
      bodyField.value = "";
      saveDraft();
      if (kindField) { kindField.value = "note"; }
      if (priorityField) { priorityField.value = ""; }
      list.scrollTop = list.scrollHeight;
      flushOutbox();
    });
  }

  // Posts left from an earlier visit (or another tab that was closed): show and send them.
  (function restoreOutbox() {
    var stored = load(OUTBOX_KEY, []);
    if (!Array.isArray(stored)) { stored = []; }
    outbox = stored.filter(function (item) {
      return item && typeof item.client_id === "string" && typeof item.body === "string";
    });
    outbox.forEach(renderPending);
  })();

  // --- mark read ----------------------------------------------------------------------------

  var visible = {};
  var readSent = Number(cfg.myLastRead) || 0;
  var readTimer = null;
  var observer = null;
  if ("IntersectionObserver" in window) {
    observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        var seq = Number(entry.target.getAttribute("data-seq"));
        if (!seq) { return; }
        if (entry.isIntersecting) { visible[seq] = true; } else { delete visible[seq]; }
      });
      scheduleReadCheck();
    }, { threshold: 0.5 });
  }

  function observe(li, replaced) {
    if (!observer) { return; }
    if (replaced) { observer.unobserve(replaced); }
    observer.observe(li);
  }

  Object.keys(records).forEach(function (seq) { observe(records[seq].el); });

  function newestVisible() {
    var seqs = Object.keys(visible).map(Number);
    if (!observer) {
      return lastSeq;  // no observer: the thread is on the page, count it as seen
    }
    return seqs.length ? Math.max.apply(null, seqs) : 0;
  }

  function scheduleReadCheck() {
    window.clearTimeout(readTimer);
    readTimer = window.setTimeout(markRead, READ_DEBOUNCE_MS);
  }

  function markRead() {
    if (document.visibilityState !== "visible" || gone) { return; }
    var seq = newestVisible();
    if (seq <= readSent) { return; }
    var wanted = seq;
    readSent = seq;  // optimistic; a failure lowers it again so the next check retries
    api("POST", cfg.urls.read, { seq: wanted }).then(function (r) {
      if (r.status === 200 && r.data) {
        readSent = Math.max(readSent, Number(r.data.last_read_seq) || 0);
        applyRead(ME, Number(r.data.last_read_seq) || 0);
      } else if (readSent === wanted) {
        readSent = wanted - 1;
      }
    }, function () {
      if (readSent === wanted) { readSent = wanted - 1; }
    });
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") {
      scheduleReadCheck();
      if (!ws) { scheduleReconnect(0); }
    }
  });

  // --- network events, logout, start -----------------------------------------------------

  window.addEventListener("online", function () {
    setLive(ws && ws.readyState === WebSocket.OPEN ? "open" : "closed");
    retryDelayS = 2;
    flushOutbox();
    if (!ws) {
      attempts = 0;
      scheduleReconnect(0);
    }
  });
  window.addEventListener("offline", function () {
    setLive(card.getAttribute("data-live"));
  });

  // Logging out leaves nothing of a patient on this device: the same submit that kizuna.js
  // uses to clear the page caches clears the outbox, drafts and seqs too.
  var logout = document.getElementById("logout-form");
  if (logout) {
    logout.addEventListener("submit", clearLocalData);
  }

  // For the browser tests and for debugging from the console.
  window.kizunaThread = {
    state: function () { return ws ? ws.readyState : WebSocket.CLOSED; },
    socket: function () { return ws; },
    lastSeq: function () { return lastSeq; },
    outbox: function () { return outbox.slice(); },
    stats: stats
  };

  connect();
  flushOutbox();
})();
