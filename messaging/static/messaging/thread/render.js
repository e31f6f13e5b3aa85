/* Kizuna contact-book thread: building the <li> of one message, exactly as the server
   renders it (messaging/templates/messaging/partials/message.html), so a live message reads
   like a server-rendered one.

   - Times use the few Django date-format letters of the translated format
     (data-time-format of #thread-card: Y m n d j H G i) in the server's time zone
     (data-time-zone).
   - @mentions of the message's mentioned users are marked, with the rule of
     messaging.services.MENTION_RE.
   - Kind and priority labels are the composer's own <option> texts; every other string comes
     from the data-str-* attributes of #thread-card (through `str`). */

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text !== undefined && text !== null) {
    node.textContent = text;
  }
  return node;
}

function pad(n) {
  return (n < 10 ? "0" : "") + n;
}

function makeTimeFormatter(format, timeZone) {
  let timeParts = null;
  try {
    timeParts = new Intl.DateTimeFormat("en-US", {
      timeZone,
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      hourCycle: "h23",
    });
  } catch {
    timeParts = null;
  }

  return function formatTime(iso) {
    const date = new Date(iso);
    if (isNaN(date.getTime())) {
      return "";
    }
    let p = {};
    if (timeParts) {
      timeParts.formatToParts(date).forEach((part) => {
        p[part.type] = part.value;
      });
    } else {
      p = {
        year: date.getFullYear(),
        month: date.getMonth() + 1,
        day: date.getDate(),
        hour: date.getHours(),
        minute: date.getMinutes(),
      };
    }
    const y = Number(p.year);
    const mo = Number(p.month);
    const d = Number(p.day);
    const h = Number(p.hour) % 24;
    const mi = Number(p.minute);
    const map = {
      Y: String(y), m: pad(mo), n: String(mo), d: pad(d), j: String(d),
      H: pad(h), G: String(h), i: pad(mi),
    };
    let out = "";
    for (let i = 0; i < format.length; i++) {
      const c = format.charAt(i);
      if (c === "\\" && i + 1 < format.length) {
        out += format.charAt(++i);
      } else {
        out += Object.prototype.hasOwnProperty.call(map, c) ? map[c] : c;
      }
    }
    return out;
  };
}

function optionLabel(select, value) {
  if (!select) {
    return value;
  }
  for (let i = 0; i < select.options.length; i++) {
    if (select.options[i].value === value) {
      return select.options[i].textContent;
    }
  }
  return value;
}

// The mention rule of messaging.services.MENTION_RE, without look-behind (older Safari):
// an @name not preceded by a name character.
const MENTION = /(^|[^A-Za-z0-9_.+\-@])@([A-Za-z0-9_.+-]*[A-Za-z0-9_+])/g;

function fillBody(p, body, mentions) {
  const names = {};
  (mentions || []).forEach((u) => {
    names[u.username] = u.display_name || u.username;
  });
  let pos = 0;
  let match;
  MENTION.lastIndex = 0;
  while ((match = MENTION.exec(body)) !== null) {
    const at = match.index + match[1].length;
    if (names[match[2]]) {
      if (at > pos) {
        p.appendChild(document.createTextNode(body.slice(pos, at)));
      }
      // The text keeps the login name (the mention is stored by person); it shows the name.
      const mark = el("mark", "mention", "@" + names[match[2]]);
      mark.setAttribute("data-username", match[2]);
      p.appendChild(mark);
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

// "author: the start of the text" of a shown message, else "#seq".
export function quoteText(li, seq, str) {
  if (!li) {
    return str("reply-to").replace("{n}", String(seq));
  }
  const author = li.querySelector(".msg-author");
  const body = li.querySelector(".msg-body");
  let text = body ? body.textContent.replace(/\s+/g, " ").trim() : "";
  if (text.length > 60) {
    text = text.slice(0, 60) + "…";
  }
  return (author ? author.textContent + ": " : "") + text;
}

// A message's photos as messaging/partials/message_photos.html renders them: the thumbnail
// (a placeholder while the worker makes it) linking to the display size.
function photoFigure(photo, str) {
  const figure = el("figure", "msg-photo");
  figure.setAttribute("data-photo", photo.id);
  figure.setAttribute("data-state", photo.state);
  const label = [photo.body_site_label, photo.caption].filter(Boolean).join(" ・ ");
  if (photo.urls && photo.urls.thumb) {
    const link = el("a", "msg-photo-link");
    link.href = photo.urls.display || photo.urls.full;
    link.target = "_blank";
    link.rel = "noopener";
    const img = el("img", "msg-photo-thumb");
    img.src = photo.urls.thumb;
    img.alt = label || str("photo");
    img.loading = "lazy";
    link.appendChild(img);
    figure.appendChild(link);
  } else {
    figure.appendChild(el("span", "msg-photo-wait", str("photo-processing")));
  }
  if (label) {
    figure.appendChild(el("figcaption", "", label));
  }
  return figure;
}

export class MessageRenderer {
  // cfg: the page's thread-data (me, meName, organizations); card: #thread-card.
  constructor({ cfg, card, str, kindField, priorityField }) {
    this.cfg = cfg;
    this.me = cfg.me;
    this.str = str;
    this.kindField = kindField;
    this.priorityField = priorityField;
    this.formatTime = makeTimeFormatter(
      card.getAttribute("data-time-format") || "Y-m-d H:i",
      card.getAttribute("data-time-zone") || "Asia/Tokyo",
    );
  }

  photos(attachments) {
    const box = el("div", "msg-photos");
    attachments.forEach((photo) => box.appendChild(photoFigure(photo, this.str)));
    return box;
  }

  readLabel(n) {
    return this.str("read").replace("{n}", String(n));
  }

  // m: a message as the API and the socket events carry it. opts.pending: a post still in
  // the outbox ("送信待ち" instead of the read count).
  message(m, opts = {}) {
    const str = this.str;
    const authorId = m.author ? m.author.id : this.me;
    const li = el("li", "msg");
    if (m.deleted) {
      li.classList.add("deleted");
    }
    if (m.priority && m.priority !== "routine") {
      li.classList.add("priority-" + m.priority);
    }
    if (authorId === this.me) {
      li.classList.add("mine");
    }
    if (m.seq) {
      li.id = "msg-" + m.seq;
      li.setAttribute("data-seq", String(m.seq));
    }
    li.setAttribute("data-author", String(authorId));
    li.setAttribute("data-client-id", m.client_id || "");

    const head = el("div", "msg-head");
    head.appendChild(el("span", "msg-author", m.author ? m.author.display_name : this.cfg.meName));
    const org = (this.cfg.organizations || {})[String(authorId)];
    if (org) {
      head.appendChild(el("span", "msg-org", org));
    }
    if (!m.deleted) {
      head.appendChild(
        el("span", "badge msg-kind kind-" + m.kind, optionLabel(this.kindField, m.kind)),
      );
      if (m.priority && m.priority !== "routine") {
        head.appendChild(
          el(
            "span",
            "badge msg-priority prio-" + m.priority,
            this.str("prio-" + m.priority) || optionLabel(this.priorityField, m.priority),
          ),
        );
      }
    }
    if (m.created_at) {
      const time = el("time", "msg-time", this.formatTime(m.created_at));
      time.setAttribute("datetime", m.created_at);
      head.appendChild(time);
    }
    if (m.edited_at && !m.deleted) {
      const edited = el("button", "msg-edited link-button", str("edited"));
      edited.type = "button";
      edited.setAttribute("data-action", "history");
      head.appendChild(edited);
    }
    li.appendChild(head);
    if (m.reply_to && !m.deleted) {
      li.appendChild(this.quote(m.reply_to));
    }

    if (m.deleted) {
      li.appendChild(el("p", "msg-body tombstone", str("deleted")));
    } else {
      const p = el("p", "msg-body");
      fillBody(p, m.body || "", m.mentions);
      li.appendChild(p);
    }
    if (!m.deleted && m.attachments && m.attachments.length) {
      li.appendChild(this.photos(m.attachments));
    }
    const foot = el("div", "msg-foot");
    if (opts.pending) {
      foot.appendChild(el("span", "msg-state", str("pending")));
    } else {
      if (!m.deleted && m.seq) {
        foot.appendChild(this.actions(authorId === this.me));
      }
      const read = el("button", "msg-read link-button", "");
      read.type = "button";
      read.setAttribute("data-action", "readers");
      read.hidden = true;
      foot.appendChild(read);
    }
    li.appendChild(foot);
    return li;
  }

  // 返信, and for one's own message 編集 and 削除 (thread/actions.js handles the taps).
  actions(mine) {
    const bar = el("span", "msg-tools");
    const names = mine ? ["reply", "edit", "delete"] : ["reply"];
    names.forEach((name) => {
      const button = el("button", "link-button", this.str("action-" + name));
      button.type = "button";
      button.setAttribute("data-action", name);
      bar.appendChild(button);
    });
    return bar;
  }

  // The quoted start of the message this one answers: a link that jumps to it.
  quote(seq) {
    const link = el("a", "msg-quote");
    link.href = "#msg-" + seq;
    link.setAttribute("data-reply-to", String(seq));
    link.textContent = quoteText(document.getElementById("msg-" + seq), seq, this.str);
    return link;
  }
}
