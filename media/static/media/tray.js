/* Kizuna photos: the photos of the post being written (the composer's tray, #photo-tray).

   Each photo (from the in-page camera or the picker) is put in the photo store (IndexedDB)
   at once, under a new client_id, and shown with a preview, a caption and a body site
   ("その他" asks for its text). `take()` hands the post its photos' details and empties the
   tray without deleting the stored photos: they now belong to the post in the outbox.
   At most cfg.maxPhotos (10) per post. */

import { deletePhoto, getPhoto, putPhoto } from "./photostore.js";

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text !== undefined && text !== null) {
    node.textContent = text;
  }
  return node;
}

export class PhotoTray {
  constructor({ root, siteTemplate, str, max, newClientId, onChange }) {
    this.root = root;
    this.siteTemplate = siteTemplate;
    this.str = str;
    this.max = max || 10;
    this.newClientId = newClientId;
    this.onChange = onChange || (() => {});
    this.items = []; // [{client_id, li, url, site, other, caption}]
  }

  count() {
    return this.items.length;
  }

  isFull() {
    return this.items.length >= this.max;
  }

  // A new photo (a Blob): stored on the device first, then shown.
  add(blob, preset) {
    if (this.isFull()) {
      return Promise.resolve(false);
    }
    const clientId = (preset && preset.client_id) || this.newClientId();
    const item = this.render(clientId, blob, preset || {});
    return putPhoto(clientId, blob).then(() => {
      this.onChange();
      return item;
    });
  }

  render(clientId, blob, preset) {
    const str = this.str;
    const li = el("li", "tray-photo");
    li.setAttribute("data-client-id", clientId);
    const url = URL.createObjectURL(blob);
    const img = el("img", "tray-preview");
    img.src = url;
    img.alt = str("photo-preview");
    li.appendChild(img);
    const fields = el("div", "tray-fields");

    const siteLabel = el("label", "", str("photo-site"));
    const site = this.siteTemplate.cloneNode(true);
    site.removeAttribute("id");
    site.hidden = false;
    site.className = "tray-site";
    site.value = preset.body_site || "";
    siteLabel.appendChild(site);
    fields.appendChild(siteLabel);

    const otherLabel = el("label", "tray-other-label", str("photo-site-other"));
    const other = el("input", "tray-other");
    other.type = "text";
    other.maxLength = 100;
    other.value = preset.body_site_other || "";
    otherLabel.appendChild(other);
    otherLabel.hidden = site.value !== "other";
    site.addEventListener("change", () => {
      otherLabel.hidden = site.value !== "other";
    });
    fields.appendChild(otherLabel);

    const captionLabel = el("label", "", str("photo-caption"));
    const caption = el("input", "tray-caption");
    caption.type = "text";
    caption.maxLength = 500;
    caption.value = preset.caption || "";
    captionLabel.appendChild(caption);
    fields.appendChild(captionLabel);
    li.appendChild(fields);

    const remove = el("button", "button small secondary tray-remove", str("photo-remove"));
    remove.type = "button";
    remove.addEventListener("click", () => this.remove(clientId, true));
    li.appendChild(remove);

    const item = { client_id: clientId, li, url, site, other, caption };
    this.items.push(item);
    this.root.appendChild(li);
    this.root.hidden = false;
    return item;
  }

  remove(clientId, deleteStored) {
    const item = this.items.filter((i) => i.client_id === clientId)[0];
    if (!item) {
      return;
    }
    URL.revokeObjectURL(item.url);
    if (item.li.parentNode) {
      item.li.parentNode.removeChild(item.li);
    }
    this.items = this.items.filter((i) => i !== item);
    this.root.hidden = this.items.length === 0;
    if (deleteStored) {
      deletePhoto(clientId);
    }
    this.onChange();
  }

  // The photos' details for the post; the tray is emptied, the stored photos kept.
  take() {
    const photos = this.items.map((item) => ({
      client_id: item.client_id,
      body_site: item.site.value || "",
      body_site_other: item.site.value === "other" ? item.other.value.trim() : "",
      caption: item.caption.value.trim(),
    }));
    this.items.slice().forEach((item) => this.remove(item.client_id, false));
    return photos;
  }

  // A refused post's photos come back into the tray, from the store.
  giveBack(photos) {
    (photos || []).forEach((photo) => {
      getPhoto(photo.client_id).then((blob) => {
        if (blob && !this.isFull()) {
          this.render(photo.client_id, blob, photo);
          this.onChange();
        }
      });
    });
  }
}
