//! `GET|POST {issuer}/authorize`: an authorization request, in the query or a form body.

use actix_web::http::{Method, StatusCode};

use crate::flows::oidc::authorize;
use crate::http::extract::TenantRequest;
use crate::http::pages::error::PageResult;
use crate::http::pages::outcome::AGAIN;
use crate::http::util::top_level_navigation;

/// Starts (or, with a session, answers) an authorization request; what the flow decided is
/// rendered by `View::outcome`. Whether the browser opened it as a page (its Fetch Metadata,
/// [`top_level_navigation`]) decides whether it may wait for a login: an image or a frame of it
/// stores nothing (the 400 page), a `prompt=none` check still has its answer. A POST without the
/// tenant's cookies is posted again from our own page (`View::again_with_cookies`).
pub async fn authorize(request: TenantRequest) -> PageResult {
    let params = request.params();
    let view = request.view(&params);
    let Ok(params) = params else {
        return Ok(view.error(StatusCode::BAD_REQUEST, "bad_request"));
    };
    let session = view.cookie("session");
    // Another site's form, posted without our cookies: posted again from our own page, with
    // them (`View::again_with_cookies`).
    if view.req.method() == Method::POST && view.fresh && session.is_none() {
        let endpoint = format!("{}/authorize", view.state.config.issuer(&view.tenant));
        if let Some(again) = view.again_with_cookies(&endpoint, &params) {
            return Ok(again);
        }
    }
    let mut params = params;
    params.remove(AGAIN);
    let binding = view.binding.clone();
    let navigation = top_level_navigation(&view.req);
    let lang = view.lang;
    let outcome = view
        .flow(move |m, conn| {
            let cookie = session.as_deref();
            authorize::start(m, conn, &params, cookie, &binding, navigation, lang)
        })
        .await?;
    Ok(view.outcome(outcome))
}
