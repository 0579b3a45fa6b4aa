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
];

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
}

/// The page for any path that is not a route.
pub async fn not_found(state: actix_web::web::Data<super::AppState>) -> HttpResponse {
    let mut response = HttpResponse::build(StatusCode::NOT_FOUND);
    response.insert_header(("Cache-Control", "no-store"));
    match state.pages.render("not_found.html", &tera::Context::new()) {
        Ok(html) => response.content_type("text/html; charset=utf-8").body(html),
        Err(error) => {
            tracing::error!(%error, "cannot render not_found.html");
            response
                .content_type("text/plain; charset=utf-8")
                .body("404")
        }
    }
}
