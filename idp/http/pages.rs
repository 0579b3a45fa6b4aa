//! Server-rendered pages (tera), compiled into the binary.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;

/// The compiled page templates.
pub struct Pages {
    tera: tera::Tera,
}

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/pages/base.html")),
    (
        "not_found.html",
        include_str!("../../templates/pages/not_found.html"),
    ),
    (
        "error.html",
        include_str!("../../templates/pages/error.html"),
    ),
    (
        "login.html",
        include_str!("../../templates/pages/login.html"),
    ),
    (
        "consent.html",
        include_str!("../../templates/pages/consent.html"),
    ),
    (
        "form_post.html",
        include_str!("../../templates/pages/form_post.html"),
    ),
    (
        "logout_confirm.html",
        include_str!("../../templates/pages/logout_confirm.html"),
    ),
    (
        "logged_out.html",
        include_str!("../../templates/pages/logged_out.html"),
    ),
];

/// The one script of the form_post page, allowed by its hash in the page's CSP.
pub const FORM_POST_SCRIPT: &str = "document.forms[0].submit();";

impl Pages {
    /// Parses the built-in templates.
    pub fn load() -> Result<Pages, tera::Error> {
        let mut tera = tera::Tera::new();
        tera.add_raw_templates(TEMPLATES.iter().copied())?;
        Ok(Pages { tera })
    }

    /// Renders `name` with `context`.
    pub fn render(&self, name: &str, context: &tera::Context) -> Result<String, tera::Error> {
        self.tera.render(name, context)
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

    /// The page that explains why a request cannot go on (never a redirect).
    pub fn error(&self, status: StatusCode, reason: &str) -> HttpResponse {
        let (fi, en) = error_text(reason);
        let mut context = tera::Context::new();
        context.insert("reason", reason);
        context.insert("message_fi", fi);
        context.insert("message_en", en);
        self.respond(status, "error.html", &context)
    }
}

/// The Finnish and English text of an error reason.
fn error_text(reason: &str) -> (&'static str, &'static str) {
    match reason {
        "missing_client" => (
            "Kirjautumispyynnöstä puuttuu asiointipalvelun tunniste.",
            "The login request does not name the e-service (client_id).",
        ),
        "unknown_client" => (
            "Kirjautumispyynnön asiointipalvelua ei tunneta.",
            "The e-service of the login request (client_id) is not known.",
        ),
        "missing_redirect_uri" | "unregistered_redirect_uri" => (
            "Kirjautumispyynnön paluuosoite puuttuu tai sitä ei ole rekisteröity asiointipalvelulle.",
            "The return address (redirect_uri) of the login request is missing or not registered for the e-service.",
        ),
        "expired" => (
            "Kirjautumispyyntö on vanhentunut tai se aloitettiin toisessa selaimessa. Palaa asiointipalveluun ja kirjaudu uudelleen.",
            "The login request has expired or was started in another browser. Go back to the e-service and log in again.",
        ),
        "invalid_id_token_hint" | "client_not_audience" => (
            "Uloskirjautumispyyntö ei ole kelvollinen.",
            "The logout request is not valid (id_token_hint).",
        ),
        "invalid_request_uri" => (
            "Kirjautumispyyntö on vanhentunut tai jo käytetty. Palaa asiointipalveluun ja kirjaudu uudelleen.",
            "The login request (request_uri) has expired or was used already. Go back to the e-service and log in again.",
        ),
        "bad_request" => ("Pyyntö ei ole kelvollinen.", "The request is not valid."),
        _ => (
            "Tapahtui virhe. Palaa asiointipalveluun ja yritä uudelleen.",
            "Something went wrong. Go back to the e-service and try again.",
        ),
    }
}

/// The page for any path that is not a route.
pub async fn not_found(state: actix_web::web::Data<super::AppState>) -> HttpResponse {
    state.pages.respond(
        StatusCode::NOT_FOUND,
        "not_found.html",
        &tera::Context::new(),
    )
}
