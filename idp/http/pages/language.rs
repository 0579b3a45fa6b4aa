//! The language selector: `POST /{tenant}/language` remembers the choice (a cookie, and the
//! pending login's language) and goes back to the page it was made on.

use actix_web::http::StatusCode;

use super::error::PageResult;
use super::extract::Posted;
use crate::flows::oidc::pending;
use crate::http::util::{param_of_query, see_other};

/// How long the language cookie lasts: a year.
const LANGUAGE_SECONDS: i64 = 365 * 24 * 3600;

/// `POST /{tenant}/language`: remembers the chosen language, back to the page it was chosen on.
pub async fn language(Posted { view, params }: Posted) -> PageResult {
    let tenant = &view.tenant;
    let chosen = params
        .get("lang")
        .and_then(|l| crate::i18n::parse_tag(l))
        .filter(|l| tenant.languages.contains(l));
    // Only a path of this tenant's: never an open redirect, nor (by a dot segment, which the
    // browser resolves) another tenant's page or a path above the public URL's.
    let Some(back) = params
        .get("return")
        .filter(|r| {
            let path = r.split(['?', '#']).next().unwrap_or_default();
            r.starts_with(&format!("/{}/", tenant.id))
                && !r.starts_with("//")
                && !r.contains(|c: char| c.is_control() || c == '\\')
                && !path
                    .split('/')
                    .any(|segment| segment == ".." || segment == "." || segment.contains('%'))
        })
        .cloned()
    else {
        return Ok(view.error(StatusCode::BAD_REQUEST, "bad_request"));
    };
    let base = view.state.config.settings.server.public_base();
    let mut response = see_other(&format!("{base}{back}"));
    // On a page of a login (the form's `request`, or the `request` of the page it returns to),
    // the choice holds for the rest of that login.
    let request_id = params
        .get("request")
        .filter(|r| !r.is_empty())
        .cloned()
        .or_else(|| {
            let (_, query) = back.split_once('?')?;
            param_of_query(query, "request").filter(|r| !r.is_empty())
        });
    let Some(language) = chosen else {
        return Ok(response);
    };
    if let Some(request_id) = request_id {
        let binding = Some(view.binding.clone());
        view.flow(move |m, conn| {
            pending::set_language(m, conn, &request_id, binding.as_deref(), language)
        })
        .await?;
    }
    let tag = language.tag().to_string();
    view.state.set_cookie(
        &mut response,
        ("lang", &tenant.id),
        tag,
        Some(LANGUAGE_SECONDS),
    );
    Ok(response)
}
