// Every page's forms post once. A second click on a button (or Enter) while the first post is
// under way would post the form again: a second mail, a second password check counted, or a
// change posted with the session cookie the first one replaced, which then asks to log in. The
// second submit of a form is ignored until the page changes, or for ten seconds (a post that
// never came back may be sent again). The button stays enabled and keeps the focus a screen
// reader is on; the form is marked aria-busy meanwhile. A page shown again from the browser's
// back-forward cache posts again. A form whose own script stops the submit (the passkey
// buttons' ceremony) is left to it. And a redirect the page's policy blocked is said.
(function () {
  "use strict";

  var AGAIN_AFTER_MS = 10000;

  function release(form) {
    delete form.dataset.posting;
    form.removeAttribute("aria-busy");
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || event.defaultPrevented) {
      return;
    }
    if (form.dataset.posting) {
      event.preventDefault();
      return;
    }
    form.dataset.posting = "yes";
    form.setAttribute("aria-busy", "true");
    window.setTimeout(function () {
      release(form);
    }, AGAIN_AFTER_MS);
  });

  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-posting]").forEach(release);
  });

  // The browser blocked the redirect that answered a form (the page's form-action): an
  // e-service's callback sent it on to an origin its client does not list. The login is done
  // (posting it again would only find it answered), but the resident would see nothing happen:
  // the page says so.
  document.addEventListener("securitypolicyviolation", function (event) {
    var note = document.getElementById("not-returned");
    if (event.effectiveDirective === "form-action" && note) {
      note.hidden = false;
    }
  });
})();
