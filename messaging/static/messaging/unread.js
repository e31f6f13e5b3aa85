/* Kizuna home: unread counts that move live (the 新着 card, the patients' badges, the tab
   title and the installed app's badge).

   The page starts from what the server rendered (#unread-data). One socket (thread/socket.js)
   brings message and read events; after each burst the page asks the socket for a resync
   with no threads named, whose answer gives every thread's unread count from the database
   (docs/events.md, "resync"). Urgent counts come from the events (an urgent message from
   someone else adds one; my own read of the thread clears them); the next page load counts
   them again from the database. The Badging API (navigator.setAppBadge) shows the total on
   the installed app's icon where the browser has it. window.kizunaUnread is for the tests. */

import { LiveSocket } from "./thread/socket.js";

const RESYNC_DELAY_MS = 250;

function start(card, cfg) {
  const str = (name) => card.getAttribute("data-str-" + name) || "";
  const list = document.getElementById("unread-list");
  const none = document.getElementById("unread-none");
  const totalNode = document.getElementById("unread-total");
  const template = document.getElementById("unread-row-template");
  const baseTitle = document.title.replace(/^\(\d+\) /, "");
  const state = new Map(); // thread id (string) -> {unread, urgent, patient, last}
  Object.keys(cfg.threads || {}).forEach((id) => {
    const t = cfg.threads[id];
    state.set(id, { unread: t.unread, urgent: t.urgent, patient: t.patient, last: "" });
  });
  list.querySelectorAll("li.unread-row").forEach((li) => {
    const rec = state.get(li.getAttribute("data-thread"));
    if (rec) {
      rec.last = li.getAttribute("data-last") || "";
    }
  });
  let resyncTimer = null;
  let resyncs = 0;

  const count = (n) => str("count").replace("{n}", String(n));
  const urgentLabel = (n) => str("urgent").replace("{n}", String(n));
  const url = (attr, id) => card.getAttribute(attr).replace("/0/", "/" + id + "/");

  function rowFor(id, thread) {
    let li = list.querySelector('li.unread-row[data-thread="' + id + '"]');
    if (li || !thread) {
      return li;
    }
    li = template.content.firstElementChild.cloneNode(true);
    li.setAttribute("data-thread", id);
    li.setAttribute("data-patient", thread.patient ? String(thread.patient.id) : "");
    const link = li.querySelector("a.unread-link");
    const scope = thread.patient || thread.organization || thread.network;
    let title = thread.title;
    if (thread.kind === "contact_book") {
      link.href = url("data-patient-url", thread.patient.id) + "#thread";
      title = str("contact-book");
    } else {
      link.href = url("data-thread-url", id);
    }
    li.querySelector(".unread-title").textContent = scope ? scope.name + " · " + title : title;
    li.querySelector("form").action = url("data-read-all-url", id);
    list.appendChild(li);
    return li;
  }

  function render() {
    let total = 0;
    const byPatient = new Map();
    state.forEach((rec, id) => {
      const li = rowFor(id, null);
      total += rec.unread;
      if (rec.patient) {
        const p = byPatient.get(rec.patient) || { unread: 0, urgent: 0 };
        p.unread += rec.unread;
        p.urgent += rec.urgent;
        byPatient.set(rec.patient, p);
      }
      if (!li) {
        return;
      }
      li.hidden = rec.unread === 0;
      li.classList.toggle("urgent", rec.urgent > 0);
      li.querySelector(".unread-n").textContent = count(rec.unread);
      const urgent = li.querySelector(".unread-urgent");
      urgent.textContent = urgentLabel(rec.urgent);
      urgent.hidden = rec.urgent === 0;
    });
    // Urgent first, then the newest activity.
    const rows = Array.from(list.querySelectorAll("li.unread-row"));
    rows.sort((a, b) => {
      const ra = state.get(a.getAttribute("data-thread")) || { urgent: 0, last: "" };
      const rb = state.get(b.getAttribute("data-thread")) || { urgent: 0, last: "" };
      if ((ra.urgent > 0) !== (rb.urgent > 0)) {
        return ra.urgent > 0 ? -1 : 1;
      }
      return ra.last < rb.last ? 1 : ra.last > rb.last ? -1 : 0;
    });
    rows.forEach((li) => list.appendChild(li));
    none.hidden = total > 0;
    totalNode.textContent = String(total);
    document.querySelectorAll("[data-unread-patient]").forEach((badge) => {
      const p = byPatient.get(Number(badge.getAttribute("data-unread-patient")));
      const n = p ? p.unread : 0;
      badge.hidden = n === 0;
      badge.textContent = count(n);
      badge.classList.toggle("urgent", Boolean(p && p.urgent > 0));
    });
    reorderPatients();
    document.title = total > 0 ? "(" + total + ") " + baseTitle : baseTitle;
    if (typeof navigator.setAppBadge === "function") {
      const done = total > 0 ? navigator.setAppBadge(total) : navigator.clearAppBadge();
      if (done && done.catch) {
        done.catch(() => {});
      }
    }
  }

  // Home's patient cards: those with unread urgent messages first, then any unread, each
  // group in the server's order.
  const patientList = document.getElementById("patient-list");
  const cards = patientList ? Array.from(patientList.children) : [];
  function rank(li) {
    const badge = li.querySelector("[data-unread-patient]");
    if (!badge || badge.hidden) {
      return 2;
    }
    return badge.classList.contains("urgent") ? 0 : 1;
  }
  function reorderPatients() {
    if (!patientList) {
      return;
    }
    const sorted = cards.slice().sort((a, b) => rank(a) - rank(b) || cards.indexOf(a) - cards.indexOf(b));
    if (sorted.some((li, i) => patientList.children[i] !== li)) {
      sorted.forEach((li) => patientList.appendChild(li));
    }
  }

  const socket = new LiveSocket({
    card, statusNode: document.getElementById("unread-status"), str, path: cfg.socket,
  });

  function scheduleResync() {
    window.clearTimeout(resyncTimer);
    resyncTimer = window.setTimeout(() => socket.send({ type: "resync", threads: {} }), RESYNC_DELAY_MS);
  }

  function applyResync(frame) {
    resyncs++;
    const threads = frame.threads || {};
    Object.keys(threads).forEach((id) => {
      const entry = threads[id];
      const rec = state.get(id) || { unread: 0, urgent: 0, patient: null, last: "" };
      rec.unread = Number(entry.unread) || 0;
      rec.urgent = Math.min(rec.urgent, rec.unread);
      rec.patient = entry.thread.patient ? entry.thread.patient.id : null;
      rec.last = entry.thread.last_message_at || rec.last;
      state.set(id, rec);
      if (rec.unread > 0) {
        rowFor(id, entry.thread);
      }
    });
    render();
  }

  socket.onOpen = () => scheduleResync();
  socket.onFrame = (frame) => {
    const id = String(frame.thread || "");
    if (frame.type === "resync") {
      applyResync(frame);
    } else if (frame.type === "message.new") {
      const m = frame.message || {};
      if (m.priority === "urgent" && m.author && m.author.id !== cfg.me) {
        const rec = state.get(id) || { unread: 0, urgent: 0, patient: null, last: "" };
        rec.urgent += 1;
        state.set(id, rec);
      }
      scheduleResync();
    } else if (frame.type === "read.updated") {
      if (frame.user && frame.user.id === cfg.me && state.has(id)) {
        state.get(id).urgent = 0;
      }
      scheduleResync();
    } else if (frame.type === "message.deleted" || frame.type === "message.edited") {
      scheduleResync();
    }
  };
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") {
      socket.reconnectNow();
      scheduleResync();
    }
  });
  window.addEventListener("online", () => socket.reconnectNow());
  window.addEventListener("offline", () => socket.refreshStatus());
  const logout = document.getElementById("logout-form");
  if (logout) {
    logout.addEventListener("submit", () => socket.stop());
  }

  window.kizunaUnread = {
    state: () => socket.readyState(),
    resyncs: () => resyncs,
    total: () => Number(totalNode.textContent),
  };
  render();
  socket.connect();
}

const card = document.getElementById("unread-card");
const data = document.getElementById("unread-data");
if (card && data) {
  start(card, JSON.parse(data.textContent));
}
