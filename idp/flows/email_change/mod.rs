//! Changing the address (and so the username): a link to the new address (`request.rs`); once
//! confirmed, a notice with a one-click undo to the old one (`follow.rs`). The subject never
//! changes.

pub mod follow;
pub mod request;

pub use follow::Followed;
pub use request::{CONFIRM, UNDO, UNDO_DAYS};

// The entries `idp/http` calls, returning `OAuthError` until it takes `FlowError`: each is the
// function of the same name in this module's files. (To remove once http takes `FlowError`:
// re-export those functions here instead.)

use crate::config::Language;
use crate::domain::Email;
use crate::flows::context::Minter;
use crate::flows::oidc::OAuthError;
use crate::mail::Mails;
use crate::store::DbConnection;
use crate::store::users::UserRow;

/// [`request::request`].
pub fn request(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    mails: &Mails,
    user: &UserRow,
    new: &Email,
    language: Language,
) -> Result<Option<String>, OAuthError> {
    Ok(request::request(m, conn, mails, user, new, language)?)
}

/// The new address a confirmation link switches to, if it is usable ([`follow::target`]).
pub fn confirm_target(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    token: &str,
) -> Result<Option<String>, OAuthError> {
    Ok(follow::target(m, conn, CONFIRM, token)?)
}

/// [`follow::confirm`].
pub fn confirm(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    mails: &Mails,
    language: Language,
    token: &str,
) -> Result<Followed, OAuthError> {
    Ok(follow::confirm(m, conn, mails, language, token)?)
}

/// The old address an undo link restores, if it is usable ([`follow::target`]).
pub fn undo_target(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    token: &str,
) -> Result<Option<String>, OAuthError> {
    Ok(follow::target(m, conn, UNDO, token)?)
}

/// [`follow::undo`].
pub fn undo(m: &Minter<'_>, conn: &mut DbConnection, token: &str) -> Result<Followed, OAuthError> {
    Ok(follow::undo(m, conn, token)?)
}
