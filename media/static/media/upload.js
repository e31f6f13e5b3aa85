/* Kizuna photos: one upload to POST /api/v1/attachments/ (multipart), with its progress.

   XMLHttpRequest rather than fetch: only it reports upload progress, for the bar under each
   photo on a slow mobile line. Resolves to {status, data, retryAfter} for any HTTP answer,
   like thread/http.js; rejects only when no answer came (offline, unreachable). The same
   client_id on every try: the server keeps one photo per client_id. */

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  if (match) {
    return decodeURIComponent(match[1]);
  }
  const field = document.querySelector("input[name=csrfmiddlewaretoken]");
  return field ? field.value : "";
}

export function uploadPhoto(url, { blob, clientId, patient, bodySite, bodySiteOther, caption }, onProgress) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    form.append("file", blob, "photo.jpg");
    form.append("client_id", clientId);
    form.append("patient", String(patient));
    form.append("body_site", bodySite || "");
    form.append("body_site_other", bodySiteOther || "");
    form.append("caption", caption || "");
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.withCredentials = true;
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
    xhr.setRequestHeader("X-CSRFToken", csrfToken());
    xhr.upload.onprogress = (event) => {
      if (onProgress && event.lengthComputable) {
        onProgress(event.loaded / event.total);
      }
    };
    xhr.onload = () => {
      let data = null;
      try {
        data = JSON.parse(xhr.responseText);
      } catch {
        data = null;
      }
      const seconds = parseInt(xhr.getResponseHeader("Retry-After") || "", 10);
      resolve({ status: xhr.status, data, retryAfter: seconds > 0 ? seconds : null });
    };
    xhr.onerror = () => reject(new Error("network"));
    xhr.ontimeout = xhr.onerror;
    xhr.send(form);
  });
}
