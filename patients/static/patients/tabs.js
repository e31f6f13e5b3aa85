/* Kizuna patient page: the tabs (連絡帳 · 記録 · チーム · 希望) and the two columns.

   On a landscape tablet (WIDE) the contact book is the main column and always shows; the
   tabs choose which of 記録 / チーム / 希望 the side column shows (記録 first). Narrower
   screens show one pane at a time, the contact book first. Without this script every pane
   shows, the contact book first. The chosen pane is in the URL's hash (#pane-record), so
   the back button and a link from the changes list land on it. */

const WIDE = "(min-width: 1024px) and (orientation: landscape)";

function start(tabs) {
  const links = Array.from(tabs.querySelectorAll("a[data-pane]"));
  const panes = links.map((a) => document.getElementById(a.getAttribute("data-pane")));
  const wide = window.matchMedia(WIDE);
  let chosen = "";

  function paneOfHash() {
    const id = window.location.hash.slice(1);
    if (!id) {
      return "";
    }
    if (panes.some((p) => p && p.id === id)) {
      return id;
    }
    // A link into a pane (#sec-medications, #thread, #msg-12) opens the pane that holds it.
    const target = document.getElementById(id);
    const pane = target ? target.closest(".pane") : null;
    return pane ? pane.id : "";
  }

  function show() {
    const isWide = wide.matches;
    let active = chosen || (isWide ? "pane-record" : "pane-thread");
    if (isWide && active === "pane-thread") {
      active = "pane-record";
    }
    document.body.classList.toggle("patient-wide", isWide);
    panes.forEach((pane, i) => {
      if (!pane) {
        return;
      }
      const main = pane.id === "pane-thread";
      pane.hidden = !(pane.id === active || (isWide && main));
      links[i].setAttribute("aria-current", pane.id === active || (isWide && main) ? "true" : "false");
    });
  }

  links.forEach((a) => {
    a.addEventListener("click", (event) => {
      event.preventDefault();
      chosen = a.getAttribute("data-pane");
      window.history.replaceState(null, "", "#" + chosen);
      show();
      if (!wide.matches) {
        tabs.scrollIntoView({ block: "start" });
      }
    });
  });
  window.addEventListener("hashchange", () => {
    chosen = paneOfHash() || chosen;
    show();
  });
  wide.addEventListener("change", show);
  chosen = paneOfHash();
  tabs.hidden = false;
  document.body.classList.add("patient-tabs-on");
  show();
}

const tabs = document.getElementById("patient-tabs");
if (tabs) {
  start(tabs);
}
