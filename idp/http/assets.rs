//! What the pages load besides themselves: `GET /static/idp.css` (the stylesheet),
//! `GET /static/passkeys.js` (the passkey buttons' script), `GET /static/forms.js` (every
//! page's: each form posts once),
//! `GET /{tenant}/theme.css` (the tenant's colour), `GET /{tenant}/logo` (its logo file); and the
//! page of any path that is not a route.

use actix_web::{HttpResponse, web};

use super::extract::TenantRequest;
use super::state::AppState;

/// The page for any path that is not a route.
pub async fn not_found(state: web::Data<AppState>) -> HttpResponse {
    state
        .pages
        .not_found(state.config.settings.server.public_base())
}

/// `GET /static/idp.css`.
pub async fn stylesheet(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(state.pages.stylesheet().to_string())
}

/// `GET /static/passkeys.js`: the passkey pages' script.
pub async fn script(state: web::Data<AppState>) -> HttpResponse {
    javascript(state.pages.script())
}

/// `GET /static/forms.js`: every page's script (each form posts once).
pub async fn forms_script(state: web::Data<AppState>) -> HttpResponse {
    javascript(state.pages.forms_script())
}

fn javascript(body: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(body.to_string())
}

/// `GET /{tenant}/theme.css`: the tenant's colour.
pub async fn theme(request: TenantRequest) -> HttpResponse {
    let css = match &request.tenant.branding.color {
        Some(color) => format!(":root {{ --brand: {color}; }}\n"),
        None => String::new(),
    };
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=300"))
        .body(css)
}

/// `GET /{tenant}/logo`: the tenant's logo file.
pub async fn logo(request: TenantRequest) -> HttpResponse {
    let Some(file) = &request.tenant.branding.logo_file else {
        return HttpResponse::NotFound().finish();
    };
    let content_type = if file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("svg"))
    {
        "image/svg+xml"
    } else {
        "image/png"
    };
    match tokio::fs::read(file).await {
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
    }
}
