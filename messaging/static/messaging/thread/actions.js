/* Kizuna contact-book thread: what a tap on a message does (the buttons of
   messaging/partials/message.html and render.js, handled for the whole list at once).

   - 返信: the composer answers this message (composer.setReply); the reply quotes it, and
     the quote is a link that jumps to it.
   - 編集 (one's own): the text becomes a text box with 保存 / やめる; saved with PATCH
     …/messages/{seq}/; the answer (and the message.edited event on other screens) shows
     the new text with 編集済み.
   - 削除 (one's own): after a confirm, DELETE …/messages/{seq}/; the message becomes its
     tombstone here and, by the message.deleted event, on every screen.
   - 既読 N and 編集済み: the read list (who read it and when, who has not) and the edit
     history, fetched as the server's pages and shown in the thread's panel (#thread-panel). */

import { quoteText } from "./render.js";

export class MessageActions {
  constructor({ cfg, list, view, composer, api, str }) {
    this.cfg = cfg;
    this.list = list;
    this.view = view;
    this.composer = composer;
    this.api = api;
    this.str = str;
    this.panel = document.getElementById("thread-panel");
    this.panelTitle = document.getElementById("thread-panel-title");
    this.panelBody = document.getElementById("thread-panel-body");
  }

  start() {
    this.list.addEventListener("click", (event) => {
      const button = event.target.closest("[data-action]");
      const li = event.target.closest("li.msg[data-seq]");
      if (button && li) {
        event.preventDefault();
        this.act(button.getAttribute("data-action"), li, button);
      } else if (event.target.closest("a.msg-quote")) {
        this.jump(event.target.closest("a.msg-quote"), event);
      }
    });
    const cancel = document.getElementById("thread-reply-cancel");
    if (cancel) {
      cancel.addEventListener("click", () => this.composer.setReply(null));
    }
    const close = document.getElementById("thread-panel-close");
    if (close) {
      close.addEventListener("click", () => this.closePanel());
    }
  }

  act(action, li, button) {
    const seq = Number(li.getAttribute("data-seq"));
    if (action === "reply") {
      this.composer.setReply(seq, quoteText(li, seq, this.str));
    } else if (action === "edit") {
      this.edit(li, seq);
    } else if (action === "delete") {
      this.remove(li, seq, button);
    } else if (action === "readers") {
      this.showPage(this.pageUrl("readers", seq), "#read-list", this.str("readers"));
    } else if (action === "history") {
      this.showPage(this.pageUrl("history", seq), "#history", this.str("history"));
    }
  }

  messageUrl(seq) {
    return this.cfg.urls.messages + seq + "/";
  }

  pageUrl(kind, seq) {
    return this.cfg.urls[kind].replace(/\/0\/([a-z]+)\/$/, "/" + seq + "/$1/");
  }

  // The quote's target is in the list: scroll to it and mark it for a moment.
  jump(link, event) {
    const target = document.getElementById("msg-" + link.getAttribute("data-reply-to"));
    if (!target) {
      return;
    }
    event.preventDefault();
    target.scrollIntoView({ block: "center" });
    target.classList.add("flash");
    window.setTimeout(() => target.classList.remove("flash"), 1600);
  }

  edit(li, seq) {
    const body = li.querySelector(".msg-body");
    if (!body || li.querySelector("form.msg-edit")) {
      return;
    }
    const form = document.createElement("form");
    form.className = "msg-edit";
    const field = document.createElement("textarea");
    field.value = body.textContent;
    field.rows = 3;
    field.setAttribute("aria-label", this.str("action-edit"));
    const error = document.createElement("p");
    error.className = "field-error";
    error.hidden = true;
    const save = document.createElement("button");
    save.type = "submit";
    save.className = "button small";
    save.textContent = this.str("save");
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.className = "button small secondary";
    cancel.textContent = this.str("cancel");
    const row = document.createElement("div");
    row.className = "msg-actions";
    row.append(save, cancel);
    form.append(field, error, row);
    body.hidden = true;
    body.after(form);
    field.focus();
    cancel.addEventListener("click", () => {
      form.remove();
      body.hidden = false;
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      save.disabled = true;
      this.api("PATCH", this.messageUrl(seq), { body: field.value }).then(
        (answer) => {
          save.disabled = false;
          if (answer.status === 200 && answer.data) {
            this.view.merge(answer.data, "refresh");
          } else {
            error.textContent = errorText(answer.data) || this.str("action-failed");
            error.hidden = false;
          }
        },
        () => {
          save.disabled = false;
          error.textContent = this.str("action-failed");
          error.hidden = false;
        },
      );
    });
  }

  remove(li, seq, button) {
    if (!window.confirm(this.str("confirm-delete"))) {
      return;
    }
    button.disabled = true;
    // A payload, so the request carries the CSRF token (the body itself is not read).
    this.api("DELETE", this.messageUrl(seq), {}).then(
      (answer) => {
        button.disabled = false;
        if (answer.status === 200 && answer.data) {
          this.view.merge(answer.data, "refresh");
        } else if (answer.status !== 204) {
          window.alert(errorText(answer.data) || this.str("action-failed"));
        }
      },
      () => {
        button.disabled = false;
        window.alert(this.str("action-failed"));
      },
    );
  }

  // One part of a server page (the read list, the history) in the panel.
  showPage(url, selector, title) {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then((response) => (response.ok ? response.text() : Promise.reject(response.status)))
      .then((html) => {
        const doc = new DOMParser().parseFromString(html, "text/html");
        const part = doc.querySelector(selector);
        if (!part) {
          return Promise.reject(new Error("no " + selector));
        }
        part.querySelectorAll("h1, a.button").forEach((node) => node.remove());
        this.openPanel(title, document.importNode(part, true));
        return null;
      })
      .catch(() => this.openPanel(title, document.createTextNode(this.str("action-failed"))));
  }

  openPanel(title, content) {
    if (!this.panel) {
      return;
    }
    this.panelTitle.textContent = title;
    this.panelBody.replaceChildren(content);
    this.panel.hidden = false;
    this.panel.scrollIntoView({ block: "nearest" });
  }

  closePanel() {
    if (this.panel) {
      this.panel.hidden = true;
      this.panelBody.replaceChildren();
    }
  }
}

// The API's error shape: {message, fields: {body: ["..."]}}.
function errorText(data) {
  if (!data) {
    return "";
  }
  const fields = data.fields || {};
  const first = Object.keys(fields).map((k) => fields[k][0]).find(Boolean);
  return first || data.message || "";
}
