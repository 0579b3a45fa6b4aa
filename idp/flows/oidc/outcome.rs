//! What the authorization endpoint decided (RFC 6749 §4.1.2, OIDC Core §3.1.2.5–6): the answer
//! to the client at its redirect URI (a code, or an error), or the page the browser goes to.

use super::error::{ErrorCode, OAuthError};
use super::request::{AuthorizationRequest, ResponseMode};
use crate::flows::context::Minter;

/// The answer to the client, at its redirect URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthResponse {
    /// Where.
    pub redirect_uri: String,
    /// How.
    pub response_mode: ResponseMode,
    /// What: `code`, `state`, `iss`, or `error`, `error_description`, `state`, `iss`.
    pub params: Vec<(String, String)>,
}

/// What the endpoint does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Answer the client.
    Respond(AuthResponse),
    /// Show the login page for the stored request.
    Login {
        /// The stored request.
        request_id: String,
    },
    /// Ask the logged-in resident to consent to the stored request.
    Consent {
        /// The stored request.
        request_id: String,
    },
    /// Ask for the second factor (or its enrolment) of the stored request's half-done login.
    SecondFactor {
        /// The stored request.
        request_id: String,
    },
    /// Offer the logged-in resident to add a passkey before going on with the stored request.
    OfferPasskey {
        /// The stored request.
        request_id: String,
    },
    /// Tell the resident the request is broken (never redirect).
    Page(&'static str),
}

/// An error response to the client.
pub fn error_response(
    issuer: &str,
    redirect_uri: String,
    response_mode: ResponseMode,
    state: Option<String>,
    error: &OAuthError,
) -> AuthResponse {
    let mut params = vec![
        ("error".to_string(), error.code.as_str().to_string()),
        ("error_description".to_string(), error.description.clone()),
    ];
    if let Some(state) = state {
        params.push(("state".into(), state));
    }
    params.push(("iss".into(), issuer.to_string()));
    AuthResponse {
        redirect_uri,
        response_mode,
        params,
    }
}

/// Why the stored `request` can no longer be answered at its redirect URI: its client is no
/// longer configured, or the URI no longer registered for it (the configuration changed while the
/// request waited, or a node of a rolling restart has another tenant file). The resident gets
/// the page of that reason instead (never a redirect to an unregistered URI, never a 500).
/// `None` while it can (and always for the account page's own login).
pub(super) fn unregistered(m: &Minter<'_>, request: &AuthorizationRequest) -> Option<&'static str> {
    if request.client_id == super::pending::ACCOUNT_CLIENT {
        return None;
    }
    match m.tenant.client(&request.client_id) {
        None => Some("unknown_client"),
        Some(client) if !super::request::registered_redirect(client, &request.redirect_uri) => {
            Some("unregistered_redirect_uri")
        }
        Some(_) => None,
    }
}

/// The error `code` answered to the client of `request` (the page of [`unregistered`] when it
/// can no longer be).
pub(super) fn refuse(
    m: &Minter<'_>,
    request: &AuthorizationRequest,
    code: ErrorCode,
    text: &str,
) -> Outcome {
    if let Some(reason) = unregistered(m, request) {
        return Outcome::Page(reason);
    }
    Outcome::Respond(error_response(
        &m.issuer,
        request.redirect_uri.clone(),
        request.response_mode,
        request.state.clone(),
        &OAuthError::new(code, text),
    ))
}
