/* Kizuna photos: the composer's photo buttons, wired to the camera and the tray.

   "写真を撮る" opens the in-page camera (camera.js) when the browser has one to offer, else
   falls back to the picker; "写真を選ぶ" opens the file picker (several at once; the server
   decides what a file is). Both are hidden while the tray holds the maximum. */

import { Camera } from "./camera.js";
import { PhotoTray } from "./tray.js";

export function makePhotoControls({ form, str, max, newClientId }) {
  const root = form.querySelector("#photo-tray");
  const takeBtn = form.querySelector("#photo-take");
  const pickBtn = form.querySelector("#photo-pick");
  const picker = form.querySelector("#photo-picker");
  const siteTemplate = form.querySelector("#photo-site-template");
  const dialog = document.getElementById("camera-dialog");
  const note = form.querySelector("#photo-note");
  if (!root || !takeBtn || !pickBtn || !picker || !siteTemplate) {
    return null;
  }
  let tray = null;
  const sync = () => {
    const full = tray.isFull();
    takeBtn.disabled = full;
    pickBtn.disabled = full;
    if (note) {
      note.textContent = full ? str("photo-max") : "";
    }
  };
  tray = new PhotoTray({ root, siteTemplate, str, max, newClientId, onChange: () => sync() });
  const camera =
    dialog && Camera.available() ? new Camera({ dialog, str, onPhoto: (blob) => tray.add(blob) }) : null;
  takeBtn.hidden = false;
  pickBtn.hidden = false;
  takeBtn.addEventListener("click", () => {
    if (camera) {
      camera.open();
    } else {
      picker.click();
    }
  });
  pickBtn.addEventListener("click", () => picker.click());
  picker.addEventListener("change", () => {
    Array.from(picker.files || []).forEach((file) => tray.add(file));
    picker.value = "";
  });
  sync();
  return tray;
}
