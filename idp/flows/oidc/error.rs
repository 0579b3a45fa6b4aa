//! OAuth 2.0 errors (RFC 6749 §4.1.2.1, §5.2; RFC 6750 §3.1; OIDC Core §3.1.2.6).

use std::fmt;

use crate::store::DbConnection;

/// An OAuth error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// `invalid_request`
    InvalidRequest,
    /// `invalid_client`
    InvalidClient,
    /// `invalid_grant`
    InvalidGrant,
    /// `unauthorized_client`
    UnauthorizedClient,
    /// `unsupported_grant_type`
    UnsupportedGrantType,
    /// `unsupported_response_type`
    UnsupportedResponseType,
    /// `invalid_scope`
    InvalidScope,
    /// `access_denied`
    AccessDenied,
    /// `invalid_token` (RFC 6750)
    InvalidToken,
    /// `login_required` (OIDC)
    LoginRequired,
    /// `consent_required` (OIDC)
    ConsentRequired,
    /// `interaction_required` (OIDC)
    InteractionRequired,
    /// `unmet_authentication_requirements` (OpenID Connect Core Unmet Authentication
    /// Requirements 1.0): an essential `acr` the login cannot reach.
    UnmetAuthenticationRequirements,
    /// `request_not_supported` (OIDC)
    RequestNotSupported,
    /// `registration_not_supported` (OIDC)
    RegistrationNotSupported,
    /// `invalid_request_uri` (OIDC, RFC 9126)
    InvalidRequestUri,
    /// `server_error`
    ServerError,
    /// `temporarily_unavailable`
    TemporarilyUnavailable,
}

impl ErrorCode {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::LoginRequired => "login_required",
            ErrorCode::ConsentRequired => "consent_required",
            ErrorCode::InteractionRequired => "interaction_required",
            ErrorCode::UnmetAuthenticationRequirements => "unmet_authentication_requirements",
            ErrorCode::RequestNotSupported => "request_not_supported",
            ErrorCode::RegistrationNotSupported => "registration_not_supported",
            ErrorCode::InvalidRequestUri => "invalid_request_uri",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }

    /// The HTTP status of this error at the token, introspection and revocation endpoints.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::InvalidClient | ErrorCode::InvalidToken => 401,
            ErrorCode::ServerError => 500,
            ErrorCode::TemporarilyUnavailable => 503,
            _ => 400,
        }
    }
}

/// An error with its description, as the protocol returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// The code.
    pub code: ErrorCode,
    /// A human-readable description (ASCII, no secrets).
    pub description: String,
}

impl OAuthError {
    /// An error with a description.
    pub fn new(code: ErrorCode, description: impl Into<String>) -> OAuthError {
        OAuthError {
            code,
            description: description.into(),
        }
    }

    /// `invalid_request`.
    pub fn invalid_request(description: impl Into<String>) -> OAuthError {
        OAuthError::new(ErrorCode::InvalidRequest, description)
    }

    /// `invalid_grant`.
    pub fn invalid_grant(description: impl Into<String>) -> OAuthError {
        OAuthError::new(ErrorCode::InvalidGrant, description)
    }

    /// `server_error`, logged.
    pub fn server(error: impl fmt::Display) -> OAuthError {
        tracing::error!(%error, "server error");
        OAuthError::new(ErrorCode::ServerError, "internal error")
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.description)
    }
}

impl OAuthError {
    /// Whether the fault is the server's (`server_error`, `temporarily_unavailable`), not the
    /// request's.
    pub fn is_server_side(&self) -> bool {
        matches!(
            self.code,
            ErrorCode::ServerError | ErrorCode::TemporarilyUnavailable
        )
    }
}

impl std::error::Error for OAuthError {}

impl From<crate::store::StoreError> for OAuthError {
    fn from(error: crate::store::StoreError) -> Self {
        match error {
            e if e.is_unavailable() => OAuthError::new(
                ErrorCode::TemporarilyUnavailable,
                "the service is busy, try again shortly",
            ),
            other => OAuthError::server(other),
        }
    }
}

impl From<diesel::result::Error> for OAuthError {
    fn from(error: diesel::result::Error) -> Self {
        OAuthError::from(crate::store::StoreError::from(error))
    }
}

/// Runs `f` in one write transaction: one commit (one fsync on SQLite) for all it writes. What a
/// refused request wrote (a used code, a replay's revocation, a failed login's count) is
/// committed with its refusal; a server-side error (a database or signing failure) rolls
/// everything back.
pub fn committed<T>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, OAuthError>,
) -> Result<T, OAuthError> {
    crate::store::write_transaction(conn, |conn| match f(conn) {
        Err(e) if e.is_server_side() => Err(e),
        answer => Ok(answer),
    })?
}
