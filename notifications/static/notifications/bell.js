/* Kizuna notifications: the bell in the page header (templates/base.html) with the unread
   count, kept live over /ws/ (docs/events.md: "notice.new", "notice.read").

   Its own socket, so the bell is live on every page, not only where a thread is open. After
   each (re)connect the count is read again from the API, so a notice that arrived while the
   socket was down is counted too. Reconnects with backoff (1, 2, 4 … 30 s); 4003 (signed
   out) stops it. On the notifications page a new notice also shows a "reload" hint. */

const MAX_BACKOFF_S = 30;
const COUNT_URL = "/api/v1/notifications/unread-count/";

function bellNodes() {
  return {
    bell: document.getElementById("notice-bell"),
    count: document.getElementById("notice-count"),
  };
}

function showCount(unread) {
  const { bell, count } = bellNodes();
  if (!bell || !count || typeof unread !== "number" || unread < 0) {
    return;
  }
  count.textContent = unread > 99 ? "99+" : String(unread);
  count.hidden = unread === 0;
  bell.setAttribute("data-unread", String(unread));
  const label = bell.getAttribute(unread ? "data-label-some" : "data-label-none") || "";
  bell.setAttribute("aria-label", label.replace("%s", String(unread)));
}

function refreshCount() {
  return fetch(COUNT_URL, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then((response) => (response.ok ? response.json() : null))
    .then((body) => {
      if (body && typeof body.unread === "number") {
        showCount(body.unread);
      }
    })
    .catch(() => {
      /* offline: the socket's next event corrects it */
    });
}

// data-live on the bell: "open" while its socket is (tests and styles may read it).
function setLive(state) {
  const { bell } = bellNodes();
  if (bell) {
    bell.setAttribute("data-live", state);
  }
}

function announceNew() {
  const hint = document.getElementById("notice-new-hint");
  if (hint) {
    hint.hidden = false;
  }
}

let attempts = 0;

function connect() {
  const url =
    (window.location.protocol === "https:" ? "wss://" : "ws://") + window.location.host + "/ws/";
  let sock;
  try {
    sock = new WebSocket(url);
  } catch {
    retry();
    return;
  }
  sock.onopen = () => {
    attempts = 0;
    setLive("open");
    refreshCount();
  };
  sock.onmessage = (event) => {
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    if (!frame || typeof frame !== "object") {
      return;
    }
    if (frame.type === "ping") {
      sock.send(JSON.stringify({ type: "pong" }));
    } else if (frame.type === "notice.new") {
      showCount(frame.unread);
      announceNew();
    } else if (frame.type === "notice.read") {
      showCount(frame.unread);
    }
  };
  sock.onclose = (event) => {
    setLive("closed");
    if (event.code === 4003) {
      return; // signed out: the page's next navigation goes to the login page
    }
    if (event.code === 4000 || event.code === 4001) {
      window.setTimeout(connect, 0);
    } else {
      retry();
    }
  };
  sock.onerror = () => {
    /* onclose follows */
  };
}

function retry() {
  attempts += 1;
  const seconds = Math.min(MAX_BACKOFF_S, 2 ** Math.min(attempts - 1, 5));
  window.setTimeout(connect, seconds * 1000);
}

if (bellNodes().bell && "WebSocket" in window) {
  connect();
}
