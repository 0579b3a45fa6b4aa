//! Server-rendered pages (tera), compiled into the binary, in the resident's language.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use fluent_templates::FluentLoader;
use serde::Serialize;

use super::AppState;
use crate::config::{Language, TenantConfig};
use crate::crypto::secret;
use crate::i18n::{self, LOCALES};

/// The compiled page templates.
pub struct Pages {
    tera: tera::Tera,
    stylesheet: String,
}

// rustfmt would break each pair over four lines.
#[rustfmt::skip]
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/pages/base.html")),
    ("not_found.html", include_str!("../../templates/pages/not_found.html")),
    ("error.html", include_str!("../../templates/pages/error.html")),
    ("login.html", include_str!("../../templates/pages/login.html")),
    ("password.html", include_str!("../../templates/pages/password.html")),
    ("consent.html", include_str!("../../templates/pages/consent.html")),
    ("form_post.html", include_str!("../../templates/pages/form_post.html")),
    ("logout_confirm.html", include_str!("../../templates/pages/logout_confirm.html")),
    ("logged_out.html", include_str!("../../templates/pages/logged_out.html")),
    ("forgot.html", include_str!("../../templates/pages/forgot.html")),
    ("link_sent.html", include_str!("../../templates/pages/link_sent.html")),
    ("reset.html", include_str!("../../templates/pages/reset.html")),
    ("password_set.html", include_str!("../../templates/pages/password_set.html")),
    ("register.html", include_str!("../../templates/pages/register.html")),
    ("register_sent.html", include_str!("../../templates/pages/register_sent.html")),
    ("register_complete.html", include_str!("../../templates/pages/register_complete.html")),
    ("account_created.html", include_str!("../../templates/pages/account_created.html")),
    ("account.html", include_str!("../../templates/pages/account.html")),
    ("message.html", include_str!("../../templates/pages/message.html")),
    ("email_undo.html", include_str!("../../templates/pages/email_undo.html")),
    ("email_confirm.html", include_str!("../../templates/pages/email_confirm.html")),
    ("choose_account.html", include_str!("../../templates/pages/choose_account.html")),
    ("claim.html", include_str!("../../templates/pages/claim.html")),
];

/// The stylesheet of every page.
pub const STYLESHEET: &str = include_str!("../../templates/static/idp.css");

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
        Ok(Pages { tera, stylesheet })
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
}

/// The translation key of an error reason.
fn error_key(reason: &str) -> &'static str {
    match reason {
        "missing_client" => "error-missing-client",
        "unknown_client" => "error-unknown-client",
        "missing_redirect_uri" | "unregistered_redirect_uri" => "error-redirect-uri",
        "expired" => "error-expired",
        "invalid_request_uri" => "error-request-uri",
        "invalid_id_token_hint" | "client_not_audience" => "error-logout",
        "bad_request" | "csrf" => "error-bad-request",
        "busy" => "busy",
        _ => "error-other",
    }
}

#[derive(Serialize)]
struct LanguageOption {
    tag: &'static str,
    name: String,
}

/// One page view: the tenant, the language, and the browser's flow secret (for CSRF tokens).
pub struct View<'a> {
    /// The state.
    pub state: &'a AppState,
    /// The tenant.
    pub tenant: &'a TenantConfig,
    /// The language of the page.
    pub lang: Language,
    /// The browser's flow secret.
    pub binding: String,
    /// Whether the flow cookie must be set with this response.
    pub fresh: bool,
    /// The path the language selector returns to.
    pub return_to: String,
}

impl<'a> View<'a> {
    /// A view of `tenant` for `req`; `ui_locales` from the authorization request, if any.
    pub fn new(
        state: &'a AppState,
        req: &HttpRequest,
        tenant: &'a TenantConfig,
        ui_locales: Option<&str>,
    ) -> View<'a> {
        let cookie = super::oidc::cookie_value(state, req, "lang", &tenant.id);
        let accept = req
            .headers()
            .get("accept-language")
            .and_then(|v| v.to_str().ok());
        let lang = i18n::negotiate(&tenant.languages, ui_locales, cookie.as_deref(), accept);
        let (binding, fresh) = match super::oidc::cookie_value(state, req, "flow", &tenant.id) {
            Some(binding) => (binding, false),
            None => (secret::random_token(), true),
        };
        let return_to = match req.query_string() {
            "" => req.path().to_string(),
            query => format!("{}?{query}", req.path()),
        };
        View {
            state,
            tenant,
            lang,
            binding,
            fresh,
            return_to,
        }
    }

    /// Shows the page in the language of the login for the pending request `request_id` (kept
    /// from its start, or chosen with the selector since), when there is one.
    pub async fn in_login(&mut self, request_id: &str) {
        if request_id.is_empty() {
            return;
        }
        let id = request_id.to_string();
        let found = self
            .state
            .oidc(&self.tenant.id, move |m, conn| {
                crate::flows::oidc::authorize::language(m, conn, &id)
            })
            .await;
        self.adopt(found);
    }

    /// Shows the page in the language of the login a mailed link (by its token) was sent from.
    pub async fn in_login_of_link(&mut self, token: &str) {
        if token.is_empty() {
            return;
        }
        let token = token.to_string();
        let found = self
            .state
            .oidc(&self.tenant.id, move |m, conn| {
                crate::flows::oidc::authorize::language_of_link(m, conn, &token)
            })
            .await;
        self.adopt(found);
    }

    fn adopt(&mut self, found: Result<Option<Language>, crate::flows::oidc::OAuthError>) {
        if let Ok(Some(lang)) = found
            && self.tenant.languages.contains(&lang)
        {
            self.lang = lang;
        }
    }

    /// The CSRF token of this browser's forms.
    pub fn csrf(&self) -> String {
        csrf_token(&self.binding)
    }

    /// The context every page has: language, tenant, selector, support, CSRF.
    pub fn context(&self) -> tera::Context {
        let mut context = tera::Context::new();
        let tenant = self.tenant;
        context.insert("lang", self.lang.tag());
        context.insert("tenant_name", &tenant.name);
        context.insert("tenant_id", &tenant.id);
        context.insert("base_url", self.state.config.settings.server.public_base());
        context.insert("csrf", &self.csrf());
        context.insert("return_to", &self.return_to);
        let languages: Vec<LanguageOption> = tenant
            .languages
            .iter()
            .map(|l| LanguageOption {
                tag: l.tag(),
                name: i18n::text(*l, "language-name"),
            })
            .collect();
        context.insert("languages", &languages);
        context.insert("support_email", &tenant.support.email);
        context.insert("support_phone", &tenant.support.phone);
        let notice = match self.lang {
            Language::Fi => &tenant.notice.fi,
            Language::Sv => &tenant.notice.sv,
            Language::En => &tenant.notice.en,
        };
        context.insert("notice", notice);
        context.insert("help_url", &tenant.help_url.as_ref().map(|u| u.to_string()));
        context.insert("has_logo", &tenant.branding.logo_file.is_some());
        context
    }

    /// Renders `name` and sets the flow cookie when it is new.
    pub fn respond(&self, status: StatusCode, name: &str, context: &tera::Context) -> HttpResponse {
        self.attach(self.state.pages.respond(status, name, context))
    }

    /// Adds the flow cookie to `response` when it is new, and the page's CSP.
    pub fn attach(&self, mut response: HttpResponse) -> HttpResponse {
        // Browsers apply form-action to the redirect that follows a form, too: a login form
        // ends at the client, so the tenant's clients' origins are allowed.
        let has_own = response
            .headers()
            .contains_key(actix_web::http::header::CONTENT_SECURITY_POLICY);
        if !has_own
            && let Ok(value) =
                actix_web::http::header::HeaderValue::from_str(&page_csp(self.tenant))
        {
            response
                .headers_mut()
                .insert(actix_web::http::header::CONTENT_SECURITY_POLICY, value);
        }
        if self.fresh {
            let cookie = self.state.cookie(
                self.state.cookie_name("flow", &self.tenant.id),
                self.binding.clone(),
                None,
            );
            if let Err(error) = response.add_cookie(&cookie) {
                tracing::error!(%error, "cannot set the flow cookie");
            }
        }
        response
    }

    /// The page that explains why a request cannot go on (never a redirect).
    pub fn error(&self, status: StatusCode, reason: &str) -> HttpResponse {
        let mut context = self.context();
        context.insert("reason", reason);
        context.insert("message_key", error_key(reason));
        let mut response = self.respond(status, "error.html", &context);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                actix_web::http::header::RETRY_AFTER,
                actix_web::http::header::HeaderValue::from_static("5"),
            );
        }
        response
    }

    /// The fields of a posted form whose `csrf` field is this browser's; otherwise the error page
    /// to answer with (boxed: a response is large).
    pub fn form(
        &self,
        req: &HttpRequest,
        body: &[u8],
    ) -> Result<crate::flows::oidc::request::Params, Box<HttpResponse>> {
        let params = super::oidc::form(req, body)
            .map_err(|_| Box::new(self.error(StatusCode::BAD_REQUEST, "bad_request")))?;
        if self.csrf_ok(params.get("csrf")) {
            Ok(params)
        } else {
            Err(Box::new(self.error(StatusCode::BAD_REQUEST, "csrf")))
        }
    }

    /// Whether a form's `csrf` field is this browser's.
    pub fn csrf_ok(&self, presented: Option<&String>) -> bool {
        !self.fresh && presented.is_some_and(|p| secret::constant_time_eq(p, &self.csrf()))
    }
}

/// The CSP of a tenant's pages: our own resources only, no inline code, never framed; forms post
/// to us, and the redirects after them may go to the tenant's clients.
pub fn page_csp(tenant: &TenantConfig) -> String {
    let mut targets: Vec<String> = tenant
        .clients
        .iter()
        .flat_map(|c| c.redirect_uris.iter().chain(&c.post_logout_redirect_uris))
        .filter_map(|uri| url::Url::parse(uri).ok())
        .map(|url| match url.origin() {
            origin @ url::Origin::Tuple(..) => origin.ascii_serialization(),
            url::Origin::Opaque(_) => format!("{}:", url.scheme()),
        })
        .collect();
    targets.sort();
    targets.dedup();
    format!(
        "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self' {}",
        targets.join(" ")
    )
    .trim_end()
    .to_string()
}

/// The CSRF token of the browser whose flow secret is `binding`.
pub fn csrf_token(binding: &str) -> String {
    secret::hash(&format!("csrf\n{binding}"))
}

/// The page for any path that is not a route.
pub async fn not_found(state: actix_web::web::Data<AppState>) -> HttpResponse {
    state.pages.respond(
        StatusCode::NOT_FOUND,
        "not_found.html",
        &tera::Context::new(),
    )
}

/// `GET /static/idp.css`.
pub async fn stylesheet(state: actix_web::web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(state.pages.stylesheet.clone())
}

/// `GET /{tenant}/theme.css`: the tenant's colour.
pub async fn theme(
    state: actix_web::web::Data<AppState>,
    path: actix_web::web::Path<String>,
) -> Result<HttpResponse, super::HttpError> {
    let tenant = state
        .config
        .tenant(&path)
        .ok_or(super::HttpError::UnknownTenant)?;
    let css = match &tenant.branding.color {
        Some(color) => format!(":root {{ --brand: {color}; }}\n"),
        None => String::new(),
    };
    Ok(HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=300"))
        .body(css))
}

/// `GET /{tenant}/logo`: the tenant's logo file.
pub async fn logo(
    state: actix_web::web::Data<AppState>,
    path: actix_web::web::Path<String>,
) -> Result<HttpResponse, super::HttpError> {
    let tenant = state
        .config
        .tenant(&path)
        .ok_or(super::HttpError::UnknownTenant)?;
    let Some(file) = &tenant.branding.logo_file else {
        return Ok(HttpResponse::NotFound().finish());
    };
    let content_type = if file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("svg"))
    {
        "image/svg+xml"
    } else {
        "image/png"
    };
    Ok(match tokio::fs::read(file).await {
        Ok(bytes) => HttpResponse::Ok()
            .content_type(content_type)
            .insert_header(("Cache-Control", "public, max-age=3600"))
            .insert_header((
                "Content-Security-Policy",
                "default-src 'none'; style-src 'unsafe-inline'",
            ))
            .body(bytes),
        Err(error) => {
            tracing::warn!(%error, file = %file.display(), "cannot read the logo");
            HttpResponse::NotFound().finish()
        }
    })
}
