/* Kizuna photos: the photos waiting on this device, in IndexedDB ("kizuna-photos").

   A photo taken or chosen in the composer is kept here (its Blob, by the photo's client_id)
   the moment it is added, before anything is sent: offline, it waits here with its post in
   the outbox and is uploaded when the line is back. It is deleted once its post is stored,
   when it is taken out of the composer, and at logout with everything else of the patient
   (deletePhotoStore). Nothing goes to the tablet's camera roll or its downloads.

   Best effort like localStorage (private modes, full disks): a failure resolves to null or
   false rather than breaking the page. */

const DB_NAME = "kizuna-photos";
const STORE = "photos";

function open() {
  return new Promise((resolve) => {
    if (!window.indexedDB) {
      resolve(null);
      return;
    }
    let request;
    try {
      request = window.indexedDB.open(DB_NAME, 1);
    } catch {
      resolve(null);
      return;
    }
    request.onupgradeneeded = () => {
      request.result.createObjectStore(STORE);
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => resolve(null);
    request.onblocked = () => resolve(null);
  });
}

function run(mode, work) {
  return open().then((db) => {
    if (!db) {
      return null;
    }
    return new Promise((resolve) => {
      let result = null;
      try {
        const tx = db.transaction(STORE, mode);
        const request = work(tx.objectStore(STORE));
        if (request) {
          request.onsuccess = () => {
            result = request.result;
          };
        }
        tx.oncomplete = () => {
          db.close();
          resolve(result === undefined ? null : result);
        };
        tx.onerror = () => {
          db.close();
          resolve(null);
        };
        tx.onabort = tx.onerror;
      } catch {
        db.close();
        resolve(null);
      }
    });
  });
}

export function putPhoto(clientId, blob) {
  return run("readwrite", (store) => store.put(blob, clientId)).then(() => true);
}

export function getPhoto(clientId) {
  return run("readonly", (store) => store.get(clientId));
}

export function deletePhoto(clientId) {
  return run("readwrite", (store) => store.delete(clientId)).then(() => true);
}

// At logout: nothing of a patient stays on the device.
export function deletePhotoStore() {
  try {
    if (window.indexedDB) {
      window.indexedDB.deleteDatabase(DB_NAME);
    }
  } catch {
    /* nothing stored */
  }
}
