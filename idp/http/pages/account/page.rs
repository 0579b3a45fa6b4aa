//! The account page as the signed-in resident sees it: the address, the name, the password
//! form, the old accounts (bound, and those to bind), with the message or error of the form just
//! sent shown at its form.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;

use crate::flows::linker::keeps_password;
use crate::http::pages::extract::{SignedIn, Typed};
use crate::http::pages::passkeys;
use crate::http::pages::view::View;

/// Where an error of the account page shows: the address form, the name form, the form that
/// links an old account of the address, the one that links another address's, or (any other)
/// the password form.
fn form_of(error: &str) -> &'static str {
    match error {
        passkey if passkey.starts_with("passkey-") => "passkeys_error",
        "email-invalid"
        | "message-failed"
        | "email-current-password-wrong"
        | "email-password-throttled"
        | "email-password-check-under-way" => "email_error",
        "name-invalid" => "name_error",
        e if e.starts_with("account-other-") => "other_error",
        "account-link-failed"
        | "account-link-mail-failed"
        | "login-throttled"
        | "login-check-under-way" => "legacy_error",
        e if e.starts_with("second-factor-") => "second_factor_error",
        e if e.starts_with("sessions-") => "sessions_error",
        _ => "error",
    }
}

impl<T: AsRef<View> + Typed> SignedIn<T> {
    /// The account page with `message` or `error` (message keys).
    pub fn show(
        &self,
        message: Option<&str>,
        error: Option<&str>,
        status: StatusCode,
    ) -> HttpResponse {
        let (view, user, olds) = (self.view(), &self.user, &self.olds);
        let mut context = view.context();
        context.insert("email", &user.email);
        context.insert(
            "username",
            &user.username.as_ref().filter(|_| user.email.is_none()),
        );
        // The form posted with an error shows what was typed again (never a password).
        let typed = |field: &str, form: &str| {
            error
                .filter(|e| form_of(e) == form)
                .and_then(|_| self.page.typed(field))
                .map(str::to_string)
        };
        // A name stored before names refused invisible marks is shown without them, so that
        // posting it back (a typo fixed) saves a clean name rather than failing on a character
        // nobody can see.
        let stored = user
            .name
            .as_deref()
            .map(crate::domain::without_hidden_marks);
        let name = typed("name", "name_error").or(stored);
        context.insert("name", &name.unwrap_or_default());
        context.insert(
            "new_email",
            &typed("email", "email_error").unwrap_or_default(),
        );
        context.insert("message", &message);
        context.insert("second_factor", &self.second_factor);
        let forms = [
            "error",
            "name_error",
            "legacy_error",
            "other_error",
            "email_error",
        ];
        for form in
            forms
                .into_iter()
                .chain(["passkeys_error", "second_factor_error", "sessions_error"])
        {
            context.insert(form, &error.filter(|e| form_of(e) == form));
        }
        // The second factor's section has two forms: the new recovery codes' messages show at
        // the second.
        let codes_failed = error.is_some_and(|e| e.starts_with("second-factor-codes-"));
        context.insert("codes_failed", &codes_failed);
        context.insert(
            "error_item",
            &self.item.as_ref().filter(|_| error.is_some()),
        );
        context.insert("min", &view.tenant.min_password_chars());
        context.insert("deletion_days", &view.tenant.deletion.undo_days);
        #[derive(serde::Serialize)]
        struct Linkable<'a> {
            id: &'a str,
            username: &'a str,
            by_password: bool,
        }
        let linkable: Vec<Linkable<'_>> = olds
            .linkable
            .iter()
            .map(|a| Linkable {
                id: &a.id,
                username: &a.username,
                by_password: keeps_password(&view.tenant, a),
            })
            .collect();
        context.insert("former", &olds.bound);
        context.insert(
            "other_username",
            &typed("username", "other_error").unwrap_or_default(),
        );
        context.insert("linkable", &linkable);
        passkeys::account::section(view, &self.passkeys, &mut context);
        super::sessions::section(view, &self.sessions, &mut context);
        view.respond(status, "account.html", &context)
    }

    /// The page with the error `error` (a message key).
    pub fn show_refused(&self, error: &str, status: StatusCode) -> HttpResponse {
        self.show(None, Some(error), status)
    }

    /// The account page after a mailed link: `sent` (a message key), or the seed's "could not be
    /// sent" (`unsent`: the key of that text at the form that mailed it) with 503 when `failed`.
    pub fn after_mail(&self, (sent, unsent): (&str, &str), failed: bool) -> HttpResponse {
        if failed {
            self.show_refused(unsent, StatusCode::SERVICE_UNAVAILABLE)
        } else {
            self.show(Some(sent), None, StatusCode::OK)
        }
    }
}
