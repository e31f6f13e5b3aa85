// Passkeys (WebAuthn) on the second-factor pages: registering one, and signing in with one.
//
// A form marked `data-passkey="register"` or `"sign-in"` is sent by this module: on submit it
// asks the server for the ceremony's options (a POST to `data-options-url`, which keeps the
// challenge in the session), lets the browser make or use the passkey, writes the browser's
// answer as JSON into the form's `credential` field and then submits the form for real. The
// server checks the answer and renders the next page itself, so errors come back as a page.
//
// The messages it shows come from the page (`data-msg-*`, translated by the server).
// Written for the strict CSP (an ES module from 'self', no inline code) and without
// `PublicKeyCredential.parseCreationOptionsFromJSON` / `toJSON`, which older iPads lack.
// Browsers offer WebAuthn only in a secure context (https, or http://localhost): elsewhere
// the passkey form says so and the typed code remains.

const REFUSED = "KizunaRefused"; // an error whose message the server wrote for the person

function refused(text) {
  const error = new Error(text);
  error.name = REFUSED;
  return error;
}

function message(form, error) {
  const name = error && error.name;
  if (name === REFUSED) {
    return error.message;
  }
  if (name === "NotAllowedError" || name === "AbortError") {
    return form.dataset.msgCancelled;
  }
  if (name === "InvalidStateError") {
    return form.dataset.msgRegistered || form.dataset.msgFailed;
  }
  return form.dataset.msgFailed;
}

function toBase64url(buffer) {
  const bytes = new Uint8Array(buffer);
  let text = "";
  for (let i = 0; i < bytes.length; i += 1) {
    text += String.fromCharCode(bytes[i]);
  }
  return window.btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64url(value) {
  const base64 = value.replace(/-/g, "+").replace(/_/g, "/");
  const padded = base64 + "===".slice((base64.length + 3) % 4);
  const text = window.atob(padded);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i += 1) {
    bytes[i] = text.charCodeAt(i);
  }
  return bytes.buffer;
}

function descriptors(list) {
  return (list || []).map((item) => Object.assign({}, item, { id: fromBase64url(item.id) }));
}

function creationOptions(options) {
  return Object.assign({}, options, {
    challenge: fromBase64url(options.challenge),
    user: Object.assign({}, options.user, { id: fromBase64url(options.user.id) }),
    excludeCredentials: descriptors(options.excludeCredentials),
  });
}

function requestOptions(options) {
  return Object.assign({}, options, {
    challenge: fromBase64url(options.challenge),
    allowCredentials: descriptors(options.allowCredentials),
  });
}

function answerJSON(credential) {
  const response = credential.response;
  const answer = {
    id: credential.id,
    rawId: toBase64url(credential.rawId),
    type: credential.type,
    authenticatorAttachment: credential.authenticatorAttachment || null,
    clientExtensionResults: credential.getClientExtensionResults(),
    response: { clientDataJSON: toBase64url(response.clientDataJSON) },
  };
  if (response.attestationObject) {
    answer.response.attestationObject = toBase64url(response.attestationObject);
    answer.response.transports = response.getTransports ? response.getTransports() : [];
  } else {
    answer.response.authenticatorData = toBase64url(response.authenticatorData);
    answer.response.signature = toBase64url(response.signature);
    answer.response.userHandle = response.userHandle ? toBase64url(response.userHandle) : null;
  }
  return JSON.stringify(answer);
}

async function fetchOptions(form) {
  const token = form.querySelector("input[name=csrfmiddlewaretoken]");
  const response = await fetch(form.dataset.optionsUrl, {
    method: "POST",
    credentials: "same-origin",
    headers: { "X-CSRFToken": token ? token.value : "", Accept: "application/json" },
  });
  const body = await response.json().catch(() => null);
  if (!response.ok || !body) {
    throw refused(body && body.error ? body.error.message : form.dataset.msgServer);
  }
  return body;
}

function show(form, text) {
  const status = form.querySelector("[data-passkey-status]");
  if (status) {
    status.textContent = text;
    status.hidden = !text;
  }
}

async function ceremony(form) {
  const options = await fetchOptions(form);
  if (form.dataset.passkey === "register") {
    return navigator.credentials.create({ publicKey: creationOptions(options) });
  }
  return navigator.credentials.get({ publicKey: requestOptions(options) });
}

function attach(form) {
  const button = form.querySelector("[data-passkey-button]");
  if (!window.PublicKeyCredential || !window.isSecureContext || !navigator.credentials) {
    const note = form.querySelector("[data-passkey-unsupported]");
    if (note) {
      note.hidden = false;
    }
    if (button) {
      button.disabled = true;
    }
    return;
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (form.dataset.passkey === "register" && !form.reportValidity()) {
      return;
    }
    show(form, "");
    if (button) {
      button.disabled = true;
    }
    try {
      const credential = await ceremony(form);
      if (!credential) {
        throw refused(form.dataset.msgFailed);
      }
      form.querySelector("input[name=credential]").value = answerJSON(credential);
      form.submit();
    } catch (error) {
      show(form, message(form, error));
      if (button) {
        button.disabled = false;
      }
    }
  });
}

document.querySelectorAll("form[data-passkey]").forEach(attach);
