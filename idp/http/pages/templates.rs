//! The page templates (tera), compiled into the binary and overridable by a city's
//! `[templates] dir`; the stylesheet; the one script of the form_post page.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use fluent_templates::FluentLoader;

use crate::i18n::LOCALES;

/// The compiled page templates.
pub struct Pages {
    tera: tera::Tera,
    stylesheet: String,
    script: String,
    forms_script: String,
}

// rustfmt would break each pair over four lines.
#[rustfmt::skip]
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../../templates/pages/base.html")),
    ("not_found.html", include_str!("../../../templates/pages/not_found.html")),
    ("error.html", include_str!("../../../templates/pages/error.html")),
    ("login.html", include_str!("../../../templates/pages/login.html")),
    ("password.html", include_str!("../../../templates/pages/password.html")),
    ("consent.html", include_str!("../../../templates/pages/consent.html")),
    ("form_post.html", include_str!("../../../templates/pages/form_post.html")),
    ("logout_confirm.html", include_str!("../../../templates/pages/logout_confirm.html")),
    ("logged_out.html", include_str!("../../../templates/pages/logged_out.html")),
    ("forgot.html", include_str!("../../../templates/pages/forgot.html")),
    ("link_sent.html", include_str!("../../../templates/pages/link_sent.html")),
    ("reset.html", include_str!("../../../templates/pages/reset.html")),
    ("password_set.html", include_str!("../../../templates/pages/password_set.html")),
    ("register.html", include_str!("../../../templates/pages/register.html")),
    ("register_sent.html", include_str!("../../../templates/pages/register_sent.html")),
    ("register_complete.html", include_str!("../../../templates/pages/register_complete.html")),
    ("account_created.html", include_str!("../../../templates/pages/account_created.html")),
    ("account.html", include_str!("../../../templates/pages/account.html")),
    ("message.html", include_str!("../../../templates/pages/message.html")),
    ("accessibility.html", include_str!("../../../templates/pages/accessibility.html")),
    ("email_undo.html", include_str!("../../../templates/pages/email_undo.html")),
    ("account_delete.html", include_str!("../../../templates/pages/account_delete.html")),
    ("account_deleted.html", include_str!("../../../templates/pages/account_deleted.html")),
    ("deletion_undo.html", include_str!("../../../templates/pages/deletion_undo.html")),
    ("deletion_done.html", include_str!("../../../templates/pages/deletion_done.html")),
    ("email_confirm.html", include_str!("../../../templates/pages/email_confirm.html")),
    ("choose_account.html", include_str!("../../../templates/pages/choose_account.html")),
    ("claim.html", include_str!("../../../templates/pages/claim.html")),
    ("account_passkeys.html", include_str!("../../../templates/pages/account_passkeys.html")),
    ("passkey_login.html", include_str!("../../../templates/pages/passkey_login.html")),
    ("passkey_offer.html", include_str!("../../../templates/pages/passkey_offer.html")),
    ("passkey_problem.html", include_str!("../../../templates/pages/passkey_problem.html")),
    ("second_factor_passkey.html", include_str!("../../../templates/pages/second_factor_passkey.html")),
    ("enrol_passkey.html", include_str!("../../../templates/pages/enrol_passkey.html")),
    ("second_factor.html", include_str!("../../../templates/pages/second_factor.html")),
    ("second_factor_enrol.html", include_str!("../../../templates/pages/second_factor_enrol.html")),
    ("recovery_codes.html", include_str!("../../../templates/pages/recovery_codes.html")),
    ("account_second_factor.html", include_str!("../../../templates/pages/account_second_factor.html")),
    ("account_export.html", include_str!("../../../templates/pages/account_export.html")),
    ("account_sessions.html", include_str!("../../../templates/pages/account_sessions.html")),
];

/// The pages whose title already names the problem they tell of.
const PROBLEM_PAGES: [&str; 4] = [
    "error.html",
    "not_found.html",
    "message.html",
    "passkey_problem.html",
];

/// The variables in which a page's template gets the message key of a form's error.
const ERRORS: [&str; 11] = [
    "error",
    "code_error",
    "email_error",
    "legacy_error",
    "name_error",
    "other_error",
    "passkey_error",
    "passkeys_error",
    "recovery_error",
    "second_factor_error",
    "sessions_error",
];

/// Whether the page `name` shows a form's error (one of [`ERRORS`] is set) and its title does
/// not name the problem already.
fn shows_error(name: &str, context: &tera::Context) -> bool {
    !PROBLEM_PAGES.contains(&name)
        && ERRORS.iter().any(|error| {
            context
                .get(error)
                .and_then(|value| value.as_str())
                .is_some_and(|key| !key.is_empty())
        })
}

/// The stylesheet of every page.
pub const STYLESHEET: &str = include_str!("../../../templates/static/idp.css");

/// The passkey pages' script (WebAuthn in the browser), served as `/static/passkeys.js`.
pub const PASSKEYS_SCRIPT: &str = include_str!("../../../templates/static/passkeys.js");

/// Every page's script: each form posts once (a double click posts nothing twice), served as
/// `/static/forms.js`.
pub const FORMS_SCRIPT: &str = include_str!("../../../templates/static/forms.js");

/// The one script of the form_post page, allowed by its hash in the page's CSP: it posts the
/// form, and shows the page's note when the browser blocks the redirect after it (`form-action`:
/// a callback sending the resident on to an origin its client does not list). Its strings are
/// in backticks, which HTML escaping leaves alone: a copy of `form_post.html` from an earlier
/// build (`{{ script }}`, escaped) still carries it as hashed.
pub const FORM_POST_SCRIPT: &str = "document.addEventListener(`securitypolicyviolation`,function(e){if(e.effectiveDirective===`form-action`){document.getElementById(`not-returned`).hidden=false;}});document.forms[0].submit();";

impl Pages {
    /// Parses the built-in templates, each replaced by `<dir>/pages/<name>` when that exists.
    pub fn load(dir: Option<&std::path::Path>) -> Result<Pages, tera::Error> {
        let mut tera = tera::Tera::new();
        tera.register_function("t", FluentLoader::new(&*LOCALES));
        let sources =
            crate::mail::with_overrides(TEMPLATES, dir, "pages").map_err(tera::Error::message)?;
        tera.add_raw_templates(sources.iter().map(|(n, s)| (n.as_str(), s.as_str())))?;
        Ok(Pages {
            tera,
            stylesheet: static_file(dir, "idp.css", STYLESHEET)?,
            script: static_file(dir, "passkeys.js", PASSKEYS_SCRIPT)?,
            forms_script: static_file(dir, "forms.js", FORMS_SCRIPT)?,
        })
    }

    /// Renders `name` with `context`.
    pub fn render(&self, name: &str, context: &tera::Context) -> Result<String, tera::Error> {
        self.tera.render(name, context)
    }

    /// Renders the page `name` with `context`; `failed` set when it shows a form's error.
    pub fn render_page(&self, name: &str, context: &tera::Context) -> Result<String, tera::Error> {
        if !shows_error(name, context) {
            return self.render(name, context);
        }
        let mut failed = context.clone();
        failed.insert("failed", &true);
        self.render(name, &failed)
    }

    /// The page "not found" (404), in the three languages: a path with no page, or a page of a
    /// tenant that does not exist. Its stylesheet is idp's at `base_url` (with a path in
    /// `public_url`, `/static/idp.css` of the host would be another site's).
    pub fn not_found(&self, base_url: &str) -> HttpResponse {
        let mut context = tera::Context::new();
        context.insert("base_url", base_url);
        self.respond(StatusCode::NOT_FOUND, "not_found.html", &context)
    }

    /// An HTML response of `name`, not cached. A form page shown again with an error says so in
    /// its title too (`failed`, WCAG 3.3.1): the title is what a screen reader reads first when
    /// the page loads, and what a tab or the history shows.
    pub fn respond(&self, status: StatusCode, name: &str, context: &tera::Context) -> HttpResponse {
        let mut response = HttpResponse::build(status);
        response.insert_header(("Cache-Control", "no-store"));
        match self.render_page(name, context) {
            Ok(html) => response.content_type("text/html; charset=utf-8").body(html),
            Err(error) => {
                tracing::error!(%error, template = name, "cannot render a page");
                HttpResponse::InternalServerError()
                    .content_type("text/plain; charset=utf-8")
                    .body("Sivua ei voitu näyttää. The page could not be shown.")
            }
        }
    }

    /// The stylesheet, as overridden.
    pub fn stylesheet(&self) -> &str {
        &self.stylesheet
    }

    /// The passkey script, as overridden.
    pub fn script(&self) -> &str {
        &self.script
    }

    /// Every page's script, as overridden.
    pub fn forms_script(&self) -> &str {
        &self.forms_script
    }
}

/// The static file `name`: `<dir>/static/<name>` when that exists, else `builtin`.
fn static_file(
    dir: Option<&std::path::Path>,
    name: &str,
    builtin: &'static str,
) -> Result<String, tera::Error> {
    Ok(
        crate::mail::with_overrides(&[(name, builtin)], dir, "static")
            .map_err(tera::Error::message)?
            .pop()
            .map(|(_, text)| text)
            .unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_post_script_reads_the_same_escaped() {
        // Tera escapes these in `{{ script }}`: the page would carry another script than the
        // hash allows, and the form_post page would never post.
        let escaped = ['&', '<', '>', '"', '\'', '/'];
        assert!(!super::FORM_POST_SCRIPT.contains(escaped));
    }

    #[test]
    fn every_error_a_template_shows_makes_its_title_say_so() {
        for (name, source) in TEMPLATES {
            for (at, _) in source.match_indices("{% if ") {
                let variable: String = source[at + 6..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if variable == "error" || variable.ends_with("_error") {
                    assert!(ERRORS.contains(&variable.as_str()), "{name}: {variable}");
                }
            }
        }
    }

    #[test]
    fn a_form_page_with_an_error_says_so_in_its_title() {
        let pages = Pages::load(None).unwrap();
        let mut context = tera::Context::new();
        let texts = [
            ("lang", "fi"),
            ("tenant_name", "Seinäjoki"),
            ("tenant_id", "seinajoki"),
            ("base_url", "https://idp.example"),
            ("csrf", "c"),
            ("return_to", "/"),
            ("email", ""),
            ("request_id", ""),
        ];
        for (key, value) in texts {
            context.insert(key, value);
        }
        context.insert("languages", &Vec::<String>::new());
        for absent in ["support_email", "support_phone", "privacy_url", "error"] {
            context.insert(absent, &None::<String>);
        }
        context.insert("has_logo", &false);
        let title = |context: &tera::Context, name: &str| {
            let html = pages.render_page(name, context).unwrap();
            let start = html.find("<title>").unwrap() + 7;
            html[start..html.find("</title>").unwrap()].to_string()
        };
        assert_eq!(
            title(&context, "forgot.html"),
            "Unohtuiko käyttäjätunnus tai salasana? – Seinäjoki"
        );
        context.insert("error", "email-invalid");
        assert_eq!(
            title(&context, "forgot.html"),
            "Virhe: Unohtuiko käyttäjätunnus tai salasana? – Seinäjoki"
        );
        context.insert("reason", "expired");
        context.insert("message_key", "error-expired");
        context.insert("title_key", "error-title");
        assert_eq!(
            title(&context, "error.html"),
            "Kirjautuminen ei onnistu – Seinäjoki"
        );
        context.insert("error", &None::<String>);
        context.insert("identifier", "a@b.fi");
        assert_eq!(
            title(&context, "password.html"),
            "Kirjautuminen: salasana – Seinäjoki",
            "the password page is told apart from the identifier page"
        );
    }
}
