/* Kizuna contact-book thread: what the page keeps on the device, in localStorage.

   Best effort: private modes and full disks must not break the page, so a failed read gives
   the fallback and a failed write returns false. Every key starts with "kizuna." and is
   removed at logout (here and by kizuna.js):
     kizuna.outbox.<user>.<thread>   posts not yet stored by the server (outbox.js)
     kizuna.draft.<user>.<thread>    the text being typed (composer.js)
     kizuna.seq.<user>               {thread: the highest seq seen} (sync.js)
   The photos waiting with their posts are in IndexedDB (media/photostore.js), deleted at
   logout with the rest. */

import { deletePhotoStore } from "../../media/photostore.js";

export const STORAGE_PREFIX = "kizuna.";

export const storageKeys = {
  outbox: (me, thread) => `${STORAGE_PREFIX}outbox.${me}.${thread}`,
  draft: (me, thread) => `${STORAGE_PREFIX}draft.${me}.${thread}`,
  seq: (me) => `${STORAGE_PREFIX}seq.${me}`,
};

export function load(key, fallback) {
  try {
    const raw = window.localStorage.getItem(key);
    return raw ? JSON.parse(raw) : fallback;
  } catch {
    return fallback;
  }
}

export function save(key, value) {
  try {
    window.localStorage.setItem(key, JSON.stringify(value));
    return true;
  } catch {
    return false;
  }
}

export function remove(key) {
  try {
    window.localStorage.removeItem(key);
  } catch {
    /* nothing stored */
  }
}

// Every "kizuna." key and every stored photo: at logout nothing of a patient stays on the
// device.
export function clearLocalData() {
  deletePhotoStore();
  try {
    const doomed = [];
    for (let i = 0; i < window.localStorage.length; i++) {
      const key = window.localStorage.key(i);
      if (key && key.indexOf(STORAGE_PREFIX) === 0) {
        doomed.push(key);
      }
    }
    doomed.forEach((key) => window.localStorage.removeItem(key));
  } catch {
    /* nothing stored */
  }
}
