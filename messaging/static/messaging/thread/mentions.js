/* Kizuna contact-book thread: the @ picker of the composer.

   Typing "@" and a few letters opens a list of the thread's current members (cfg.members,
   from the server) that match by name, kana (やまだ finds 山田 太郎; katakana and hiragana,
   half- and full-width alike), profession or role on the team today (@主治医, @副主治医,
   @訪問看護 find whoever holds the role now). Choosing one (tap, or Enter / ↑↓) writes
   "@<login name> " into the text: the stored mention is the person, and the thread shows
   their name. Escape closes the list. */

function fold(text) {
  const nfkc = String(text || "").normalize("NFKC").toLowerCase();
  let out = "";
  for (let i = 0; i < nfkc.length; i++) {
    const c = nfkc.charCodeAt(i);
    out += c >= 0x30a1 && c <= 0x30f6 ? String.fromCharCode(c - 0x60) : nfkc.charAt(i);
  }
  return out.replace(/\s+/g, "");
}

const TOKEN = /(^|\s)@([^\s@]*)$/;
const MAX_SHOWN = 8;

export class MentionPicker {
  constructor({ field, list, members, str }) {
    this.field = field;
    this.list = list; // #thread-mentions
    this.members = (members || []).map((m) => ({
      ...m,
      keys: [m.name, m.kana, m.profession, m.username].concat(m.roles || []).map(fold),
    }));
    this.str = str;
    this.shown = [];
    this.active = -1;
  }

  start() {
    if (!this.field || !this.list) {
      return;
    }
    this.field.addEventListener("input", () => this.update());
    this.field.addEventListener("keydown", (event) => this.key(event));
    this.field.addEventListener("blur", () => window.setTimeout(() => this.close(), 200));
    this.list.addEventListener("mousedown", (event) => event.preventDefault());
    this.list.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-index]");
      if (button) {
        this.choose(Number(button.getAttribute("data-index")));
      }
    });
  }

  token() {
    const before = this.field.value.slice(0, this.field.selectionStart);
    const match = TOKEN.exec(before);
    return match ? { query: match[2], start: before.length - match[2].length - 1 } : null;
  }

  update() {
    const token = this.token();
    if (!token) {
      this.close();
      return;
    }
    const q = fold(token.query);
    this.shown = this.members
      .map((m) => ({ m, role: q ? (m.roles || []).find((r) => fold(r).startsWith(q)) : null }))
      .filter(({ m, role }) => !q || role || m.keys.some((k) => k.indexOf(q) !== -1))
      .slice(0, MAX_SHOWN);
    this.render();
  }

  render() {
    this.list.replaceChildren();
    if (!this.shown.length) {
      this.close();
      return;
    }
    this.shown.forEach(({ m, role }, i) => {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "mention-option";
      button.setAttribute("data-index", String(i));
      button.setAttribute("data-username", m.username);
      button.setAttribute("role", "option");
      const name = document.createElement("strong");
      name.textContent = role ? role + " — " + m.name : m.name;
      const detail = document.createElement("span");
      detail.className = "muted";
      detail.textContent = [m.kana, m.profession].concat(role ? [] : m.roles || []).filter(Boolean).join(" · ");
      button.append(name, " ", detail);
      li.appendChild(button);
      this.list.appendChild(li);
    });
    this.active = 0;
    this.highlight();
    this.list.hidden = false;
    this.field.setAttribute("aria-expanded", "true");
  }

  highlight() {
    Array.from(this.list.querySelectorAll("button")).forEach((b, i) => {
      b.setAttribute("aria-selected", i === this.active ? "true" : "false");
    });
  }

  key(event) {
    if (this.list.hidden || !this.shown.length) {
      return;
    }
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      this.active = (this.active + step + this.shown.length) % this.shown.length;
      this.highlight();
    } else if (event.key === "Enter" && !event.isComposing) {
      event.preventDefault();
      this.choose(this.active);
    } else if (event.key === "Escape") {
      this.close();
    }
  }

  choose(index) {
    const picked = this.shown[index];
    const token = this.token();
    if (!picked || !token) {
      this.close();
      return;
    }
    const value = this.field.value;
    const caret = this.field.selectionStart;
    const insert = "@" + picked.m.username + " ";
    this.field.value = value.slice(0, token.start) + insert + value.slice(caret);
    const at = token.start + insert.length;
    this.field.setSelectionRange(at, at);
    this.field.dispatchEvent(new Event("input"));
    this.close();
    this.field.focus();
  }

  close() {
    this.shown = [];
    this.list.hidden = true;
    this.list.replaceChildren();
    this.field.setAttribute("aria-expanded", "false");
  }
}
