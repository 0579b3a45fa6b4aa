/* idp: passkeys (WebAuthn) on the pages that offer them, served from idp itself as
   /static/passkeys.js (the pages' CSP allows no inline script).

   A form with data-passkey="register" (create a passkey) or "login", "confirm", "second" (use
   one) holds hidden fields csrf (and request), ceremony and credential. Its button
   [data-passkey-start] posts csrf and request to data-passkey-options, gets
   {"ceremony", "options"}, hands options.publicKey to navigator.credentials (base64url turned
   into bytes), puts the ceremony's id and the answer (bytes turned into base64url) into the
   hidden fields and submits the form: the server answers with a page or a redirect, as with
   any form. A register form with a password field (the account page's) posts the password with
   csrf, and a refusal's message ({"error", "message"}) is shown in the form. A form with data-passkey-conditional also offers the browser's passkeys in the
   identifier field's autofill (conditional mediation), where the browser can.

   Without this script, or without WebAuthn in the browser, the buttons stay hidden and the
   [data-passkey-nojs] notes stay visible; every other form works as it is. */
(function () {
  "use strict";
  if (window.idpPasskeys) {
    return;
  }
  window.idpPasskeys = true;

  function fromBase64url(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) {
      base64 += "=";
    }
    var binary = atob(base64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i += 1) {
      bytes[i] = binary.charCodeAt(i);
    }
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i += 1) {
      binary += String.fromCharCode(bytes[i]);
    }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  /* The options as the server sent them (JSON), with the bytes navigator.credentials wants. */
  function publicKey(options) {
    var key = Object.assign({}, options.publicKey);
    key.challenge = fromBase64url(key.challenge);
    if (key.user) {
      key.user = Object.assign({}, key.user, { id: fromBase64url(key.user.id) });
    }
    ["excludeCredentials", "allowCredentials"].forEach(function (name) {
      if (key[name]) {
        key[name] = key[name].map(function (credential) {
          return Object.assign({}, credential, { id: fromBase64url(credential.id) });
        });
      }
    });
    return key;
  }

  /* A credential as webauthn-rs reads it, with `response` (its parts in base64url). */
  function answered(credential, response) {
    return {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      response: response,
      extensions: {}
    };
  }

  /* A new credential (RegisterPublicKeyCredential). */
  function created(credential) {
    var response = credential.response;
    return answered(credential, {
      attestationObject: toBase64url(response.attestationObject),
      clientDataJSON: toBase64url(response.clientDataJSON),
      transports: typeof response.getTransports === "function" ? response.getTransports() : []
    });
  }

  /* An assertion (PublicKeyCredential). */
  function asserted(credential) {
    var response = credential.response;
    return answered(credential, {
      authenticatorData: toBase64url(response.authenticatorData),
      clientDataJSON: toBase64url(response.clientDataJSON),
      signature: toBase64url(response.signature),
      userHandle: response.userHandle ? toBase64url(response.userHandle) : null
    });
  }

  function field(form, name) {
    return form.elements.namedItem(name);
  }

  function fetchOptions(form) {
    var body = new URLSearchParams();
    body.append("csrf", field(form, "csrf").value);
    if (field(form, "request")) {
      body.append("request", field(form, "request").value);
    }
    // The account page's form asks for the current password before a passkey is added: it goes
    // with the request for the options, checked before the browser's prompt.
    if (form.getAttribute("data-passkey") === "register" && field(form, "password")) {
      body.append("password", field(form, "password").value);
    }
    return fetch(form.getAttribute("data-passkey-options"), {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { Accept: "application/json" }
    }).then(function (response) {
      if (!response.ok) {
        var error = new Error("passkey options: " + response.status);
        // A refusal the server explains ({"error", "message"}): its message is shown.
        return response.json().then(function (refusal) {
          error.message = refusal.message || "";
          error.explained = Boolean(refusal.message);
          throw error;
        }, function () {
          throw error;
        });
      }
      return response.json();
    });
  }

  /* One ceremony of the form: options, the browser's prompt, the answer submitted. */
  function ceremony(form, mediation, signal) {
    var register = form.getAttribute("data-passkey") === "register";
    return fetchOptions(form).then(function (answer) {
      var request = { publicKey: publicKey(answer.options) };
      if (mediation) {
        request.mediation = mediation;
      }
      if (signal) {
        request.signal = signal;
      }
      var asked = register ? navigator.credentials.create(request) : navigator.credentials.get(request);
      return asked.then(function (credential) {
        if (!credential) {
          throw new Error("no passkey");
        }
        if (field(form, "password")) {
          field(form, "password").value = "";
        }
        field(form, "ceremony").value = answer.ceremony;
        field(form, "credential").value = JSON.stringify(register ? created(credential) : asserted(credential));
        form.submit();
      });
    });
  }

  function failed(form, error) {
    var button = form.querySelector("[data-passkey-start]");
    if (button) {
      button.disabled = false;
    }
    if (error && error.name === "AbortError") {
      return;
    }
    var box = form.querySelector("[data-passkey-error]");
    if (box) {
      var explained = error && error.explained;
      box.textContent = explained ? error.message : form.getAttribute("data-passkey-failed") || "";
      box.hidden = false;
      box.id = box.id || "passkey-script-error-" + Math.random().toString(36).slice(2);
      // A refused password: the message describes the password field, which gets the focus.
      var password = field(form, "password");
      var target = explained && password ? password : button;
      if (target) {
        // Added to what describes it already (the offer's introduction), not in its place.
        var described = (target.getAttribute("aria-describedby") || "").split(" ").filter(function (id) {
          return id && id !== box.id;
        });
        described.push(box.id);
        target.setAttribute("aria-describedby", described.join(" "));
        target.focus();
      }
    }
  }

  /* The autofill's pending request, ended when a button starts a ceremony of its own. */
  var autofill = null;

  function start(form) {
    if (autofill) {
      autofill.abort();
      autofill = null;
    }
    var button = form.querySelector("[data-passkey-start]");
    button.disabled = true;
    ceremony(form, null, null).catch(function (error) {
      failed(form, error);
    });
  }

  function offerAutofill(form) {
    if (typeof PublicKeyCredential.isConditionalMediationAvailable !== "function") {
      return;
    }
    PublicKeyCredential.isConditionalMediationAvailable().then(function (available) {
      if (!available || typeof AbortController !== "function") {
        return;
      }
      autofill = new AbortController();
      // A failure here stays silent: the resident did not ask for anything yet.
      ceremony(form, "conditional", autofill.signal).catch(function () {});
    });
  }

  function setUp() {
    if (!window.PublicKeyCredential || !navigator.credentials || !window.fetch) {
      return;
    }
    document.querySelectorAll("[data-passkey-nojs]").forEach(function (note) {
      note.hidden = true;
    });
    document.querySelectorAll("form[data-passkey]").forEach(function (form) {
      form.hidden = false;
      var button = form.querySelector("[data-passkey-start]");
      if (button) {
        button.hidden = false;
        button.addEventListener("click", function () {
          start(form);
        });
        // Enter in the form's one text field (the passkey's name) submits it without the
        // button: start the ceremony instead of posting a form without a passkey.
        form.addEventListener("submit", function (event) {
          var credential = field(form, "credential");
          if (credential && !credential.value) {
            event.preventDefault();
            if (!button.disabled) {
              start(form);
            }
          }
        });
      }
      if (form.hasAttribute("data-passkey-conditional")) {
        offerAutofill(form);
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
}());
