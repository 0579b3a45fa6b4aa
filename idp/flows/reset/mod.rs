//! Forgot password: a single-use link by mail (`request.rs`), a new password, the user's other
//! sessions ended, and the pending authorization continued (`complete.rs`).

pub mod complete;
pub mod request;

pub use complete::Completed;
pub use request::PURPOSE;

// The entries `idp/http` calls, returning `OAuthError` until it takes `FlowError`: each is the
// function of the same name in this module's files. (To remove once http takes `FlowError`:
// re-export those functions here instead.)

use crate::config::Language;
use crate::domain::Email;
use crate::flows::context::Minter;
use crate::flows::oidc::OAuthError;
use crate::mail::Mails;
use crate::store::DbConnection;

/// [`request::request`].
pub fn request(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    mails: &Mails,
    email: &Email,
    language: Language,
    request_id: Option<&str>,
) -> Result<Option<String>, OAuthError> {
    Ok(request::request(
        m, conn, mails, email, language, request_id,
    )?)
}

/// [`complete::usable`].
pub fn usable(m: &Minter<'_>, conn: &mut DbConnection, token: &str) -> Result<bool, OAuthError> {
    Ok(complete::usable(m, conn, token)?)
}

/// [`complete::complete`].
pub fn complete(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    token: &str,
    password_hash: &str,
    binding: &str,
) -> Result<Completed, OAuthError> {
    Ok(complete::complete(m, conn, token, password_hash, binding)?)
}
