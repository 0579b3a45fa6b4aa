//! The error of the resident's self-service flows, and which error type to use when.
//!
//! - [`FlowError`]: the flows that are not the OAuth protocol — the account page (`account`), the
//!   change of address (`email_change`), registration (`register`), forgot password (`reset`),
//!   the legacy-account linker (`linker`), and what they share (`mail_limit`, `mail_link`). Their
//!   expected outcomes (an expired link, a limit reached, a wrong password) are values of their
//!   result enums, not errors; a `FlowError` is what stops the flow: the database busy, a fault
//!   of ours, or the few refusals listed here.
//! - [`OAuthError`] (`oidc/error.rs`): the protocol endpoints (`oidc/*`), whose errors are
//!   RFC 6749 error responses; a flow that continues a pending login (`oidc/resume.rs`) carries
//!   its `OAuthError` inside [`FlowError::Login`].
//! - [`StoreError`]: the store's own (`store/error.rs`); a flow turns it into its error with `?`.
//! - Own enums where a caller must tell the cases apart: `users::AddUserError`,
//!   `keys::KeysError`, `legacy_import::ImportError`, `legacy_admin`'s errors.
//!
//! The pages (`idp/http/pages`) take a `FlowError` from every flow they run; an `OAuthError` of
//! the login's own steps becomes [`FlowError::Login`]. The password login (`oidc/login.rs`)
//! binds old accounts through the linker: `From<FlowError> for OAuthError` makes the linker's
//! error its own there.

use crate::flows::oidc::error::{ErrorCode, OAuthError};
use crate::store::StoreError;

/// Why a self-service flow stopped.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// The database is busy or unreachable for now: try again shortly (503).
    #[error("the service is busy, try again shortly")]
    Unavailable,
    /// A fault of ours (a query, a template, a URL); logged where it happened.
    #[error("internal error")]
    Server,
    /// The address belongs to another account (a registration lost the race for it).
    #[error("the address is taken")]
    AddressTaken,
    /// A link that binds an old account to a resident's account, followed in a browser not
    /// signed in to that account: nothing done, the link still usable there (403).
    #[error("the link binds to an account not signed in in this browser")]
    SignInFirst,
    /// Continuing the pending login after a mailed link failed in the protocol's terms.
    #[error(transparent)]
    Login(#[from] OAuthError),
}

impl FlowError {
    /// A fault of ours, logged.
    pub fn server(error: impl std::fmt::Display) -> FlowError {
        tracing::error!(%error, "server error");
        FlowError::Server
    }

    /// Whether the service is only out of capacity for a moment (the database busy or
    /// unreachable), so that trying again shortly helps; every other error is a fault.
    pub fn is_busy(&self) -> bool {
        match self {
            FlowError::Unavailable => true,
            FlowError::Login(error) => error.code == ErrorCode::TemporarilyUnavailable,
            FlowError::Server | FlowError::AddressTaken | FlowError::SignInFirst => false,
        }
    }
}

impl From<StoreError> for FlowError {
    fn from(error: StoreError) -> Self {
        if error.is_unavailable() {
            FlowError::Unavailable
        } else {
            FlowError::server(error)
        }
    }
}

impl From<FlowError> for OAuthError {
    fn from(error: FlowError) -> Self {
        match error {
            FlowError::Unavailable => OAuthError::from(StoreError::Busy),
            FlowError::Server => OAuthError::new(ErrorCode::ServerError, "internal error"),
            FlowError::AddressTaken => OAuthError::invalid_request("the address is taken"),
            FlowError::SignInFirst => {
                OAuthError::invalid_request("the link binds to an account not signed in here")
            }
            FlowError::Login(error) => error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_flow_error_is_the_oauth_error_the_flows_returned_before() {
        let busy = OAuthError::from(FlowError::Unavailable);
        assert_eq!(busy.code, ErrorCode::TemporarilyUnavailable);
        assert_eq!(busy.description, "the service is busy, try again shortly");
        let server = OAuthError::from(FlowError::Server);
        assert_eq!(server, OAuthError::server("test"));
        let taken = OAuthError::from(FlowError::AddressTaken);
        assert_eq!(taken, OAuthError::invalid_request("the address is taken"));
        let login = OAuthError::invalid_grant("x");
        assert_eq!(OAuthError::from(FlowError::Login(login.clone())), login);
    }

    #[test]
    fn only_a_busy_store_is_busy() {
        assert!(FlowError::Unavailable.is_busy());
        assert!(FlowError::from(StoreError::Busy).is_busy());
        assert!(FlowError::Login(OAuthError::from(StoreError::Busy)).is_busy());
        assert!(!FlowError::Server.is_busy());
        assert!(!FlowError::AddressTaken.is_busy());
        assert!(!FlowError::Login(OAuthError::server("test")).is_busy());
        assert!(!FlowError::Login(OAuthError::invalid_grant("x")).is_busy());
    }
}
