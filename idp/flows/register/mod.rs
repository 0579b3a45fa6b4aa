//! Registration: an address, a link to it (`start.rs`), then a password and a name — the
//! account, logged in, and the pending authorization continued (`finish.rs`). An address that has
//! an account gets a mail saying so instead; the page is the same either way.

pub mod finish;
pub mod start;

pub use finish::{Account, Finished};
pub use start::PURPOSE;

// The entries `idp/http` calls, returning `OAuthError` until it takes `FlowError`: each is the
// function of the same name in this module's files. (To remove once http takes `FlowError`:
// re-export those functions here instead.)

use crate::config::Language;
use crate::domain::Email;
use crate::flows::context::Minter;
use crate::flows::oidc::OAuthError;
use crate::mail::Mails;
use crate::store::DbConnection;

/// [`start::start`].
pub fn start(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    mails: &Mails,
    email: &Email,
    language: Language,
    request_id: Option<&str>,
) -> Result<Option<String>, OAuthError> {
    Ok(start::start(m, conn, mails, email, language, request_id)?)
}

/// [`finish::link_email`].
pub fn link_email(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    token: &str,
) -> Result<Option<String>, OAuthError> {
    Ok(finish::link_email(m, conn, token)?)
}

/// [`finish::finish`].
pub fn finish(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    mails: &Mails,
    account: &Account<'_>,
    binding: &str,
) -> Result<Finished, OAuthError> {
    Ok(finish::finish(m, conn, mails, account, binding)?)
}
