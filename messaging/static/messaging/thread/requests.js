/* The requests panel (依頼) of the patient page: the server renders it; this module swaps in a
   fresh copy (GET its data-panel-url) when the socket says a request or its escalation chain
   changed (request.updated, escalation.step) and after every (re)connect. Its forms post
   without JavaScript too. Refreshes close together are merged into one. */

const MERGE_MS = 150;

export class RequestsPanel {
  constructor(doc) {
    this.doc = doc;
    this.timer = null;
    this.inFlight = false;
    this.again = false;
    this.refreshes = 0;
  }

  root() {
    return this.doc.getElementById("requests-panel");
  }

  handles(frame) {
    return frame.type === "request.updated" || frame.type === "escalation.step";
  }

  refresh() {
    if (!this.root()) {
      return;
    }
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.load(), MERGE_MS);
  }

  load() {
    const root = this.root();
    if (!root) {
      return;
    }
    if (this.inFlight) {
      this.again = true;
      return;
    }
    this.inFlight = true;
    fetch(root.dataset.panelUrl, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then((response) => (response.ok ? response.text() : null))
      .then((html) => {
        const current = this.root();
        if (html === null || !current) {
          return;
        }
        const fresh = new DOMParser().parseFromString(html, "text/html").getElementById(
          "requests-panel",
        );
        if (fresh) {
          current.replaceWith(this.doc.importNode(fresh, true));
          this.refreshes++;
        }
      })
      .catch(() => {
        /* offline: the next frame or reconnect refreshes it */
      })
      .finally(() => {
        this.inFlight = false;
        if (this.again) {
          this.again = false;
          this.refresh();
        }
      });
  }
}
