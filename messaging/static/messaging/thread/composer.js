/* Kizuna contact-book thread: the composer form (#thread-composer).

   - The text being typed is kept as a draft on the device (kizuna.draft.<user>.<thread>,
     300 ms after the last keystroke) and put back when the page opens again.
   - One choice says what the message is (連絡, バイタル, 質問, 申し送り, 緊急); the server gives
     an urgent one urgent priority. The line under it (#thread-kind-hint) says in words what
     the chosen kind is for and does (the option's data-hint).
   - Sending makes an outbox item with a new client_id (a UUID v4) and hands it to the outbox,
     which keeps it on the device before sending it; an empty text is refused here with the
     data-str-empty message.
   - Photos in the tray (media/tray.js) go with the post: `item.photos`, their Blobs already
     in the photo store; a post of photos alone gets the data-str-photo-body text.
   - A post the server refused for good comes back here (giveBack) with its error shown under
     the text field, and its photos back in the tray. */

import { load, save, remove } from "./storage.js";

const DRAFT_SAVE_MS = 300;

// A random UUID v4. crypto.randomUUID needs a secure context; getRandomValues does not.
export function newClientId() {
  if (window.crypto && typeof window.crypto.randomUUID === "function") {
    return window.crypto.randomUUID();
  }
  const bytes = new Uint8Array(16);
  if (window.crypto && window.crypto.getRandomValues) {
    window.crypto.getRandomValues(bytes);
  } else {
    for (let i = 0; i < 16; i++) {
      bytes[i] = Math.floor(Math.random() * 256);
    }
  }
  bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
  bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 4122 variant
  const hex = Array.from(bytes, (b) => (b < 16 ? "0" : "") + b.toString(16)).join("");
  return (
    hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" +
    hex.slice(16, 20) + "-" + hex.slice(20)
  );
}

export class Composer {
  constructor({ form, photos, bodyField, bodyError, kindField, priorityField, draftKey, list, outbox, str }) {
    this.form = form;
    this.photos = photos; // the photo tray (media/tray.js), or null where photos cannot go
    this.bodyField = bodyField;
    this.bodyError = bodyError;
    this.kindField = kindField;
    this.priorityField = priorityField;
    this.draftKey = draftKey;
    this.list = list; // #thread-messages, scrolled to the end on sending
    this.outbox = outbox;
    this.str = str;
    this.draftTimer = null;
    this.replyTo = null;
  }

  showKindHint() {
    const hint = document.getElementById("thread-kind-hint");
    const option = this.kindField.options[this.kindField.selectedIndex];
    if (hint && option) {
      hint.textContent = option.getAttribute("data-hint") || "";
      hint.classList.toggle("urgent", this.kindField.value === "urgent");
    }
  }

  // Put back the draft and listen to the form.
  start() {
    const { form, bodyField, bodyError, kindField } = this;
    if (!form || !bodyField) {
      return;
    }
    const draft = load(this.draftKey, "");
    if (typeof draft === "string" && draft && !bodyField.value) {
      bodyField.value = draft;
    }
    bodyField.addEventListener("input", () => {
      window.clearTimeout(this.draftTimer);
      this.draftTimer = window.setTimeout(() => this.saveDraft(), DRAFT_SAVE_MS);
      if (bodyError && !bodyError.hidden) {
        this.setError(null);
      }
    });
    if (kindField) {
      kindField.addEventListener("change", () => this.showKindHint());
      this.showKindHint();
    }
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send();
    });
  }

  send() {
    const { bodyField, kindField, priorityField } = this;
    const count = this.photos ? this.photos.count() : 0;
    // A post of photos alone says so in its text (the server wants one).
    const text = bodyField.value.trim() || !count ? bodyField.value : this.str("photo-body");
    if (!text.trim()) {
      this.setError(this.str("empty"));
      bodyField.focus();
      return;
    }
    this.setError(null);
    const item = {
      client_id: newClientId(),
      body: text,
      kind: kindField ? kindField.value : "note",
      priority: priorityField ? priorityField.value : "",
      created: Date.now(),
    };
    if (this.replyTo) {
      item.reply_to = this.replyTo;
    }
    if (count) {
      item.photos = this.photos.take(); // [{client_id, body_site, body_site_other, caption}]
    }
    this.outbox.add(item);
    this.setReply(null);
    bodyField.value = "";
    this.saveDraft();
    if (kindField) {
      kindField.value = "note";
    }
    if (priorityField) {
      priorityField.value = "";
    }
    this.list.scrollTop = this.list.scrollHeight;
    this.outbox.flush();
  }

  // Answer message `seq` (null: no longer a reply). The bar above the text says to whom,
  // quoting the start of the message (#thread-reply, with its cancel button).
  setReply(seq, quote) {
    this.replyTo = seq || null;
    const bar = document.getElementById("thread-reply");
    if (!bar) {
      return;
    }
    bar.hidden = !this.replyTo;
    const text = document.getElementById("thread-reply-text");
    if (text) {
      text.textContent = this.replyTo ? quote || "#" + seq : "";
    }
    if (this.replyTo) {
      this.focus();
    }
  }

  saveDraft() {
    if (!this.bodyField) {
      return;
    }
    const text = this.bodyField.value;
    if (text) {
      save(this.draftKey, text);
    } else {
      remove(this.draftKey);
    }
  }

  setError(text) {
    const { bodyError, bodyField } = this;
    if (!bodyError) {
      return;
    }
    bodyError.textContent = text || "";
    bodyError.hidden = !text;
    if (text) {
      bodyField.setAttribute("aria-invalid", "true");
    } else {
      bodyField.removeAttribute("aria-invalid");
    }
  }

  isEmpty() {
    return Boolean(this.bodyField) && !this.bodyField.value.trim();
  }

  focus() {
    if (this.bodyField) {
      this.bodyField.focus();
    }
  }

  // A refused post: its text, kind and priority back in the form, with the server's reason.
  giveBack(item, errorText) {
    if (!this.bodyField) {
      return;
    }
    this.bodyField.value = item.body;
    if (this.kindField) {
      this.kindField.value = item.kind;
    }
    if (this.priorityField) {
      this.priorityField.value = item.priority || "";
    }
    if (item.reply_to) {
      this.setReply(item.reply_to);
    }
    if (this.photos && item.photos) {
      this.photos.giveBack(item.photos);
    }
    this.saveDraft();
    this.setError(errorText);
  }

  // The thread is gone: nothing more can be sent.
  disable() {
    if (this.form) {
      Array.from(this.form.elements).forEach((field) => {
        field.disabled = true;
      });
    }
  }
}
