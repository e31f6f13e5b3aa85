/* Kizuna contact-book thread: the one WebSocket to /ws/ (docs/events.md), and the status
   line that says whether the page is live.

   - Reconnects by itself: close code 4000 (the server's planned cycle) and 4001 (this
     user's access changed) at once; 4003 (signed out) reloads the page, which goes to the
     login page; anything else waits 1, 2, 4 … 30 s.
   - Answers "ping" with "pong"; every other frame goes to onFrame(frame).
   - onOpen(reopened) after each (re)connect (reopened: a socket was open before), and
     onClose() when an open or opening socket closes; both set by thread.js.
   - #thread-card's data-live is "connecting", "open" or "closed"; #thread-status says so in
     words (or that the browser is offline, or that the thread is gone). */

const MAX_BACKOFF_S = 30;

export class LiveSocket {
  constructor({ card, statusNode, str, path }) {
    this.card = card;
    this.statusNode = statusNode;
    this.str = str;
    this.path = path || "/ws/";
    this.ws = null;
    this.attempts = 0;
    this.reconnectTimer = null;
    this.openedBefore = false;
    this.stopped = false; // the thread is gone: never connect again
    this.onOpen = () => {};
    this.onFrame = () => {};
    this.onClose = () => {};
  }

  readyState() {
    return this.ws ? this.ws.readyState : WebSocket.CLOSED;
  }

  isOpen() {
    return Boolean(this.ws && this.ws.readyState === WebSocket.OPEN);
  }

  setLive(state) {
    this.card.setAttribute("data-live", state);
    const str = this.str;
    let text = "";
    if (this.stopped) {
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
    if (this.statusNode && this.statusNode.textContent !== text) {
      this.statusNode.textContent = text;
    }
  }

  // The browser went on- or offline: say so, keeping data-live.
  refreshStatus() {
    this.setLive(this.card.getAttribute("data-live"));
  }

  // Sends a frame if the socket is open; false if it is not.
  send(frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  scheduleReconnect(delayMs) {
    window.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = window.setTimeout(() => this.connect(), delayMs);
  }

  // Back online: try again at once, from the shortest backoff.
  reconnectNow() {
    if (!this.ws) {
      this.attempts = 0;
      this.scheduleReconnect(0);
    }
  }

  backoff() {
    const delay = Math.min(MAX_BACKOFF_S, Math.pow(2, this.attempts));
    this.attempts++;
    this.scheduleReconnect(delay * 1000);
  }

  connect() {
    const current = this.ws;
    if (
      this.stopped ||
      (current &&
        (current.readyState === WebSocket.CONNECTING || current.readyState === WebSocket.OPEN))
    ) {
      return;
    }
    window.clearTimeout(this.reconnectTimer);
    const url =
      (window.location.protocol === "https:" ? "wss://" : "ws://") + window.location.host + this.path;
    let sock;
    try {
      sock = new WebSocket(url);
    } catch {
      this.backoff();
      return;
    }
    this.ws = sock;
    this.setLive("connecting");
    sock.onopen = () => {
      if (sock !== this.ws) {
        return;
      }
      this.attempts = 0;
      this.setLive("open");
      const reopened = this.openedBefore;
      this.openedBefore = true;
      this.onOpen(reopened);
    };
    sock.onmessage = (event) => {
      if (sock !== this.ws) {
        return;
      }
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
        this.send({ type: "pong" });
      } else {
        this.onFrame(frame);
      }
    };
    sock.onclose = (event) => {
      if (sock !== this.ws) {
        return;
      }
      this.ws = null;
      this.setLive("closed");
      if (this.stopped) {
        return;
      }
      this.onClose();
      if (event.code === 4003) {
        // Signed out (deactivated, password changed, this session ended): go and log in.
        window.location.reload();
      } else if (event.code === 4000 || event.code === 4001) {
        // 4000: the server's planned cycle; 4001: this user's access changed. Come straight
        // back; the resync answer says which threads are gone.
        this.scheduleReconnect(0);
      } else {
        this.backoff();
      }
    };
    sock.onerror = () => {
      /* onclose follows */
    };
  }

  // The thread is gone for this user: close for good and say so.
  stop() {
    this.stopped = true;
    this.setLive("closed");
    if (this.ws) {
      try {
        this.ws.close();
      } catch {
        /* already closed */
      }
    }
  }
}
