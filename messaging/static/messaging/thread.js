/* Kizuna contact-book thread (連絡帳) on the patient page: the entry module. It reads the
   page (#thread-card, the thread-data JSON), makes the parts below, wires them together and
   starts them. Native ES modules, no build step, no inline script or handlers.

     thread/socket.js    the WebSocket to /ws/, reconnects, the live/offline status line
     thread/sync.js      in step by seq: resync on gaps and (re)connects, catch-up pages
     thread/view.js      the list of messages merged by seq, 既読 counts, older pages
     thread/render.js    one message's <li>, as the server renders it
     thread/outbox.js    posts kept on the device and sent over the socket or HTTP
     thread/composer.js  the form: drafts, sending, refused posts given back, replies
     thread/mentions.js  the composer's @ picker (name, kana, profession, role)
     thread/actions.js   a message's 返信 / 編集 / 削除, its read list and edit history
     thread/reads.js     mark-read of what is on screen
     thread/storage.js   localStorage, all under "kizuna." (removed at logout)
     thread/http.js      JSON requests to the API with the CSRF token
     ../media/*.js       photos: the in-page camera, the composer's tray, the photo store
                         (IndexedDB) and the uploads that precede a post with photos
     thread/requests.js  the requests panel (依頼), refreshed when a request or its chain changes

   The wire protocol is docs/events.md ("How the web page posts"). Every string shown comes
   translated from the data-str-* attributes of #thread-card. window.kizunaThread is for the
   browser tests and for debugging from the console. */

import { makePhotoControls } from "../media/controls.js";
import { MessageActions } from "./thread/actions.js";
import { Composer, newClientId } from "./thread/composer.js";
import { MentionPicker } from "./thread/mentions.js";
import { makeApi } from "./thread/http.js";
import { Outbox } from "./thread/outbox.js";
import { ReadTracker } from "./thread/reads.js";
import { MessageRenderer } from "./thread/render.js";
import { RequestsPanel } from "./thread/requests.js";
import { LiveSocket } from "./thread/socket.js";
import { clearLocalData, storageKeys } from "./thread/storage.js";
import { ThreadSync } from "./thread/sync.js";
import { ThreadView } from "./thread/view.js";

function start(card, cfg) {
  const byId = (id) => document.getElementById(id);
  const str = (name) => card.getAttribute("data-str-" + name) || "";
  const list = byId("thread-messages");
  const statusNode = byId("thread-status");
  const form = byId("thread-composer");
  const kindField = byId("thread-kind");
  const priorityField = byId("thread-priority");
  const stats = {
    resyncs: 0, resyncMerged: [], liveMerged: [], reconnects: 0, socketPosts: 0, httpPosts: 0,
  };
  const api = makeApi(form);
  // What the page fetches by itself (resyncs, read marks) is not the user's activity.
  const backgroundApi = makeApi(form, { background: true });

  // kizuna.js may call this from its own logout/login-page clearing.
  window.kizunaClearLocalData = clearLocalData;

  const renderer = new MessageRenderer({ cfg, card, str, kindField, priorityField });
  const view = new ThreadView({
    cfg, list, emptyNote: byId("thread-empty"), statusNode, renderer, api, str, stats,
  });
  view.adoptServerRendered();
  const socket = new LiveSocket({ card, statusNode, str, path: cfg.urls.socket });
  const sync = new ThreadSync({
    cfg, seqKey: storageKeys.seq(cfg.me), socket, view, api: backgroundApi, stats,
  });
  sync.rememberSeq();
  view.scrollToFirstUnread();
  view.enableOlder(byId("thread-older"));

  const outbox = new Outbox({
    cfg,
    key: storageKeys.outbox(cfg.me, cfg.thread),
    list: byId("thread-outbox"),
    renderer, view, sync, socket, api, str, stats,
  });
  const photos = cfg.patient ? makePhotoControls({ form, str, max: cfg.maxPhotos, newClientId }) : null;
  const composer = new Composer({
    form,
    photos,
    bodyField: byId("thread-body"),
    bodyError: byId("thread-body-error"),
    kindField,
    priorityField,
    draftKey: storageKeys.draft(cfg.me, cfg.thread),
    list, outbox, str,
  });
  outbox.composer = composer; // a refused post gives its text back
  composer.start();
  new MessageActions({ cfg, list, view, composer, api, str }).start();
  new MentionPicker({
    field: byId("thread-body"), list: byId("thread-mentions"), members: cfg.members, str,
  }).start();
  outbox.restore();

  const reads = new ReadTracker({
    cfg, api: backgroundApi, lastSeq: () => sync.lastSeq, isGone: () => sync.gone,
  });
  reads.onRead = (userId, seq) => view.applyRead(userId, seq);
  view.onRendered = (li, replaced) => reads.observe(li, replaced);
  view.onPostShown = (clientId) => outbox.dropPendingEl(clientId);
  view.elements().forEach((li) => reads.observe(li));

  sync.onCaughtUp = () => reads.schedule();
  sync.onGone = () => composer.disable();
  const requestsPanel = new RequestsPanel(document);
  socket.onOpen = (reopened) => {
    sync.opened(reopened);
    outbox.flush();
    if (reopened) {
      requestsPanel.refresh();
    }
  };
  socket.onClose = () => outbox.socketClosed();
  socket.onFrame = (frame) => {
    if (frame.type === "ack" || (frame.type === "error" && frame.client_id)) {
      outbox.answered(frame.client_id, frame);
    } else if (requestsPanel.handles(frame)) {
      requestsPanel.refresh();
    } else {
      sync.handleFrame(frame);
    }
  };

  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") {
      reads.schedule();
      if (!socket.ws) {
        socket.scheduleReconnect(0);
      }
    }
  });
  window.addEventListener("online", () => {
    socket.setLive(socket.isOpen() ? "open" : "closed");
    outbox.online();
    socket.reconnectNow();
  });
  window.addEventListener("offline", () => socket.refreshStatus());

  // Logging out leaves nothing of a patient on this device: the same submit that kizuna.js
  // uses to clear the page caches clears the outbox, drafts and seqs too. The socket is
  // closed first: the server closes the sockets of the session that logs out (4003), which
  // would otherwise reload this page in the middle of the logout.
  const logout = byId("logout-form");
  if (logout) {
    logout.addEventListener("submit", () => {
      socket.stop();
      clearLocalData();
    });
  }

  window.kizunaThread = {
    state: () => socket.readyState(),
    socket: () => socket.ws,
    lastSeq: () => sync.lastSeq,
    outbox: () => outbox.snapshot(),
    stats,
  };

  socket.connect();
  outbox.flush();
}

const threadCard = document.getElementById("thread-card");
const dataNode = document.getElementById("thread-data");
if (threadCard && dataNode) {
  start(threadCard, JSON.parse(dataNode.textContent));
}
