//! `GET|POST {issuer}/userinfo` (OIDC Core §5.3; bearer tokens per RFC 6750 §2).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};

use crate::flows::oidc::error::{ErrorCode, OAuthError};
use crate::flows::oidc::userinfo;
use crate::http::extract::TenantRequest;
use crate::http::util::{form, no_store_json};

/// With the token in the Authorization header.
pub async fn get(request: TenantRequest) -> HttpResponse {
    let token = bearer(&request.req);
    answer(&request, token).await
}

/// With the token in the header or in the form body (`access_token`).
pub async fn post(request: TenantRequest) -> HttpResponse {
    let from_body = if request.body.is_empty() {
        Ok(None)
    } else {
        form(&request.req, &request.body).map(|p| p.get("access_token").cloned())
    };
    let token = match (bearer(&request.req), from_body) {
        (_, Err(error)) | (Err(error), Ok(Some(_))) => return challenge(Some(&error)),
        (Ok(Some(_)), Ok(Some(_))) => {
            return challenge(Some(&OAuthError::invalid_request(
                "give the access token once, not in the header and the body",
            )));
        }
        (Ok(None), Ok(Some(token))) => Ok(Some(token)),
        (header, Ok(None)) => header,
    };
    answer(&request, token).await
}

async fn answer(
    request: &TenantRequest,
    token: Result<Option<String>, OAuthError>,
) -> HttpResponse {
    let token = match token {
        Ok(Some(token)) => token,
        Ok(None) => return challenge(None),
        Err(error) => return challenge(Some(&error)),
    };
    match request
        .state
        .read_flow(&request.tenant.id, move |m, conn| {
            userinfo::userinfo(m, conn, &token)
        })
        .await
    {
        Ok(claims) => no_store_json(&claims),
        Err(error) => challenge(Some(&error)),
    }
}

/// The bearer token of the Authorization header.
fn bearer(req: &HttpRequest) -> Result<Option<String>, OAuthError> {
    let Some(value) = req.headers().get("authorization") else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| OAuthError::invalid_request("malformed Authorization header"))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim().to_string()))
        }
        _ => Err(OAuthError::invalid_request(
            "the Authorization header must be Bearer <token>",
        )),
    }
}

/// A 401/400 with `WWW-Authenticate: Bearer …` (RFC 6750 §3).
///
/// The header carries the error code and a constant description of it, never text of the
/// request (a parameter's name may hold CR, LF or NUL, which no header value can); the JSON body
/// carries the detailed description.
fn challenge(error: Option<&OAuthError>) -> HttpResponse {
    let (status, header) = match error {
        None => (StatusCode::UNAUTHORIZED, "Bearer realm=\"idp\"".to_string()),
        Some(e) => {
            let (status, description) = match e.code {
                ErrorCode::InvalidRequest => (StatusCode::BAD_REQUEST, "the request is malformed"),
                ErrorCode::ServerError => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the request could not be handled",
                ),
                ErrorCode::TemporarilyUnavailable => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the service is unavailable for a moment",
                ),
                _ => (StatusCode::UNAUTHORIZED, "the access token is not valid"),
            };
            (
                status,
                format!(
                    "Bearer realm=\"idp\", error=\"{}\", error_description=\"{description}\"",
                    e.code.as_str()
                ),
            )
        }
    };
    let mut response = HttpResponse::build(status);
    response
        .insert_header(("WWW-Authenticate", header))
        .insert_header(("Cache-Control", "no-store"));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.insert_header(("Retry-After", "5"));
    }
    match error {
        Some(e) => response.json(serde_json::json!({
            "error": e.code.as_str(),
            "error_description": e.description,
        })),
        None => response.finish(),
    }
}
