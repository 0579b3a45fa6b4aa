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

/// The stylesheet of every page.
pub const STYLESHEET: &str = include_str!("../../../templates/static/idp.css");

/// The passkey pages' script (WebAuthn in the browser), served as `/static/passkeys.js`.
pub const PASSKEYS_SCRIPT: &str = include_str!("../../../templates/static/passkeys.js");

/// The one script of the form_post page, allowed by its hash in the page's CSP.
pub const FORM_POST_SCRIPT: &str = "document.forms[0].submit();";

impl Pages {
    /// Parses the built-in templates, each replaced by `<dir>/pages/<name>` when that exists.
    pub fn load(dir: Option<&std::path::Path>) -> Result<Pages, tera::Error> {
        let mut tera = tera::Tera::new();
        tera.register_function("t", FluentLoader::new(&*LOCALES));
        let sources =
            crate::mail::with_overrides(TEMPLATES, dir, "pages").map_err(tera::Error::message)?;
        tera.add_raw_templates(sources.iter().map(|(n, s)| (n.as_str(), s.as_str())))?;
        let stylesheet = crate::mail::with_overrides(&[("idp.css", STYLESHEET)], dir, "static")
            .map_err(tera::Error::message)?
            .pop()
            .map(|(_, css)| css)
            .unwrap_or_default();
        let script =
            crate::mail::with_overrides(&[("passkeys.js", PASSKEYS_SCRIPT)], dir, "static")
                .map_err(tera::Error::message)?
                .pop()
                .map(|(_, js)| js)
                .unwrap_or_default();
        Ok(Pages {
            tera,
            stylesheet,
            script,
        })
    }

    /// Renders `name` with `context`.
    pub fn render(&self, name: &str, context: &tera::Context) -> Result<String, tera::Error> {
        self.tera.render(name, context)
    }

    /// The page "not found" (404), in the three languages: a path with no page, or a page of a
    /// tenant that does not exist.
    pub fn not_found(&self) -> HttpResponse {
        self.respond(
            StatusCode::NOT_FOUND,
            "not_found.html",
            &tera::Context::new(),
        )
    }

    /// An HTML response of `name`, not cached.
    pub fn respond(&self, status: StatusCode, name: &str, context: &tera::Context) -> HttpResponse {
        let mut response = HttpResponse::build(status);
        response.insert_header(("Cache-Control", "no-store"));
        match self.render(name, context) {
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
}
