//! Where errors become HTTP responses: [`HttpError`] (an unknown tenant, the store) and the
//! reshaping of actix's own error answers. A page's errors are finished pages already
//! (`pages::error::PageError`); the protocol endpoints answer their errors in the protocol's form
//! (`oidc::client_request`, `oidc::userinfo`).

use actix_web::error::InternalError;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use super::pages::error::Shown;
use super::pages::view::View;
use super::state::AppState;
use crate::store::StoreError;

/// An error a handler returns.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The path names no configured tenant.
    #[error("unknown tenant")]
    UnknownTenant,
    /// The database is unreachable or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ResponseError for HttpError {
    fn status_code(&self) -> StatusCode {
        match self {
            HttpError::UnknownTenant => StatusCode::NOT_FOUND,
            HttpError::Store(e) if e.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            HttpError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let (error, description) = match self {
            HttpError::UnknownTenant => ("not_found", "no such tenant"),
            HttpError::Store(e) if e.is_unavailable() => (
                "temporarily_unavailable",
                "the service is busy, try again shortly",
            ),
            HttpError::Store(_) => ("server_error", "internal error"),
        };
        let mut response = HttpResponse::build(status);
        response.insert_header(("Cache-Control", "no-store"));
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header(("Retry-After", "5"));
        }
        response.json(json!({ "error": error, "error_description": description }))
    }
}

/// The largest request body any endpoint reads (forms and protocol requests are a few KiB; a
/// request object or a long `claims` stays well below).
pub const BODY_LIMIT: usize = 64 * 1024;

/// The endpoints that answer in JSON (RFC 6749 §5.2 and its kin); every other path is a page.
const PROTOCOL_ENDPOINTS: &[&str] = &[
    "token",
    "par",
    "introspect",
    "revoke",
    "userinfo",
    "jwks",
    "openid-configuration",
];

/// Gives actix's own error answers (a body over [`BODY_LIMIT`], a path that cannot be decoded, a
/// response that could not be built) the shape of ours: the protocol's JSON error at protocol
/// endpoints, the error page in the resident's language elsewhere. Answers made by our handlers
/// ([`HttpError`], and the pages of `pages::error::PageError`) pass unchanged.
pub fn reshape<B>(
    res: actix_web::dev::ServiceResponse<B>,
) -> actix_web::Result<actix_web::middleware::ErrorHandlerResponse<B>> {
    use actix_web::middleware::ErrorHandlerResponse;
    let Some(error) = res.response().error() else {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    };
    let last = res.request().path().rsplit('/').next().unwrap_or_default();
    if matches!(
        error.as_error::<HttpError>(),
        Some(HttpError::UnknownTenant)
    ) && !PROTOCOL_ENDPOINTS.contains(&last)
    {
        // A page of a tenant that does not exist (a mistyped city in a bookmark, an e-service's
        // wrong link): the page "not found" in the three languages, not the protocol's JSON.
        let response = match res.request().app_data::<actix_web::web::Data<AppState>>() {
            Some(state) => state
                .pages
                .not_found(state.config.settings.server.public_base()),
            None => return Ok(ErrorHandlerResponse::Response(res.map_into_left_body())),
        };
        return Ok(ErrorHandlerResponse::Response(
            res.into_response(response).map_into_right_body(),
        ));
    }
    let ours = error.as_error::<HttpError>().is_some()
        || error.as_error::<InternalError<Shown>>().is_some();
    if ours {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = match res.status() {
        s if s.is_server_error() => {
            tracing::error!(error = %error, path = res.request().path(), "request failed");
            StatusCode::INTERNAL_SERVER_ERROR
        }
        StatusCode::PAYLOAD_TOO_LARGE => StatusCode::PAYLOAD_TOO_LARGE,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        StatusCode::REQUEST_TIMEOUT => StatusCode::REQUEST_TIMEOUT,
        StatusCode::NOT_FOUND => StatusCode::NOT_FOUND,
        _ => StatusCode::BAD_REQUEST,
    };
    let request = res.request().clone();
    let mut response = shaped(&request, status);
    keep_cors_headers(res.response().headers(), response.headers_mut());
    Ok(ErrorHandlerResponse::Response(
        res.into_response(response).map_into_right_body(),
    ))
}

/// Copies what `http::cors` said of a request's answer onto the answer that replaces it: a
/// single-page application reads the protocol's error of a body too large as it reads any other.
fn keep_cors_headers(
    from: &actix_web::http::header::HeaderMap,
    to: &mut actix_web::http::header::HeaderMap,
) {
    use actix_web::http::header;
    for name in [
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        header::VARY,
    ] {
        if let Some(value) = from.get(&name) {
            to.insert(name, value.clone());
        }
    }
}

fn shaped(req: &actix_web::HttpRequest, status: StatusCode) -> HttpResponse {
    let mut segments = req.path().trim_start_matches('/').split('/');
    let tenant = segments.next().unwrap_or_default();
    let last = req.path().rsplit('/').next().unwrap_or_default();
    let state = req.app_data::<actix_web::web::Data<AppState>>();
    let known = state.and_then(|s| s.tenant(tenant).map(|t| (s, t)));
    match known {
        Some((state, tenant)) if !PROTOCOL_ENDPOINTS.contains(&last) => {
            let view = View::new(state.clone(), req, tenant, None);
            let reason = if status.is_server_error() {
                "server_error"
            } else {
                "bad_request"
            };
            view.error(status, reason)
        }
        _ => {
            let (error, description) = match status {
                StatusCode::PAYLOAD_TOO_LARGE => ("invalid_request", "the body is too large"),
                StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                    ("invalid_request", "a compressed body is not accepted")
                }
                StatusCode::REQUEST_TIMEOUT => {
                    ("invalid_request", "the body did not arrive in time")
                }
                StatusCode::NOT_FOUND => ("not_found", "no such tenant"),
                s if s.is_server_error() => ("server_error", "internal error"),
                _ => ("invalid_request", "the request is malformed"),
            };
            HttpResponse::build(status)
                .insert_header(("Cache-Control", "no-store"))
                .json(json!({ "error": error, "error_description": description }))
        }
    }
}
