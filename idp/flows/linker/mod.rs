//! The legacy-account linker: binds an account of a city's old login system to the resident's
//! email on the first login, keeping its subject so every e-service keeps the resident's history.
//!
//! - **keep-password** (`route.rs`, [`keeps_password`]): the old password, checked against the
//!   legacy hash, proves the account; the user is created with the legacy subject and the
//!   password re-hashed with argon2id, in one transaction with the legacy row's link and an audit
//!   event (`bind.rs`).
//! - **email-link** (and accounts without a usable hash): a set-password link is mailed
//!   (`links.rs`); opening it and setting the password binds the account in one transaction and
//!   continues the pending login (`follow.rs`).
//! - One address, several old accounts: the resident chooses; the first bound subject is `sub`,
//!   the others, bound later from the account page, appear in the `former_subjects` claim
//!   (`flows/former.rs`).
//! - A family's shared address: once one of its old accounts is bound, the login at the address
//!   offers that account and the old accounts still unbound. Another resident **claims** theirs
//!   (`claims.rs`, `claim_address.rs`): proves it (old password under keep-password, else a link
//!   mailed to the shared address), gives their own address, and the link mailed there creates
//!   their user with the old subject.
//! - Authority accounts keep logging in with their old username and password.

pub mod bind;
pub mod claim_address;
pub mod claims;
pub mod follow;
pub mod links;
pub mod route;

pub use crate::flows::former::{Former, Olds, former, olds};
pub use bind::bind_new_user;
pub use claim_address::Claimed;
pub use claims::{CLAIM, ClaimCheck, ClaimPrepared, Proven};
pub use follow::{Completed, LinkTarget};
pub use links::{LinkMail, PURPOSE};
pub use route::{IN_USE, Route, keeps_password, mask, password_target};

// The entries `idp/http` calls, returning `OAuthError` until it takes `FlowError`: each is the
// function of the same name in this module's files. (To remove once http takes `FlowError`:
// re-export those functions here instead.)

use crate::config::Language;
use crate::domain::Email;
use crate::flows::context::Minter;
use crate::flows::oidc::OAuthError;
use crate::mail::Mails;
use crate::store::DbConnection;
use crate::store::legacy::LegacyRow;
use crate::store::users::UserRow;

/// [`route::route`].
pub fn route(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    identifier: &str,
) -> Result<Route, OAuthError> {
    Ok(route::route(m, conn, identifier)?)
}

/// [`route::route_chosen`].
pub fn route_chosen(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    identifier: &str,
    account: &str,
) -> Result<Route, OAuthError> {
    Ok(route::route_chosen(m, conn, identifier, account)?)
}

/// [`bind::bind_to_user`].
pub fn bind_to_user(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    account: &LegacyRow,
    user: &UserRow,
    by: &str,
) -> Result<bool, OAuthError> {
    Ok(bind::bind_to_user(m, conn, account, user, by)?)
}

/// [`links::send_links`].
pub fn send_links(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    mails: &Mails,
    accounts: &[LegacyRow],
    mail: LinkMail<'_>,
) -> Result<Option<String>, OAuthError> {
    Ok(links::send_links(m, conn, mails, accounts, mail)?)
}

/// [`follow::link_target`].
pub fn link_target(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    token: &str,
) -> Result<Option<LinkTarget>, OAuthError> {
    Ok(follow::link_target(m, conn, token)?)
}

/// [`follow::complete`].
pub fn complete(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    token: &str,
    password_hash: Option<&str>,
    binding: &str,
) -> Result<Completed, OAuthError> {
    Ok(follow::complete(m, conn, token, password_hash, binding)?)
}

/// [`claims::prepare_claim`].
pub fn prepare_claim(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    request_id: &str,
    binding: &str,
    identifier: &str,
    account: &str,
) -> Result<ClaimPrepared, OAuthError> {
    Ok(claims::prepare_claim(
        m, conn, request_id, binding, identifier, account,
    )?)
}

/// [`claims::finish_claim`].
pub fn finish_claim(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    check: ClaimCheck,
    matches: bool,
) -> Result<Option<Proven>, OAuthError> {
    Ok(claims::finish_claim(m, conn, check, matches)?)
}

/// [`claims::send_claim_link`].
pub fn send_claim_link(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    mails: &Mails,
    account: &LegacyRow,
    language: Language,
    request_id: Option<&str>,
) -> Result<Option<String>, OAuthError> {
    Ok(claims::send_claim_link(
        m, conn, mails, account, language, request_id,
    )?)
}

/// [`claim_address::claim_target`].
pub fn claim_target(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    token: &str,
) -> Result<Option<String>, OAuthError> {
    Ok(claim_address::claim_target(m, conn, token)?)
}

/// [`claim_address::submit_claim`].
pub fn submit_claim(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    mails: &Mails,
    token: &str,
    address: &Email,
    language: Language,
) -> Result<Claimed, OAuthError> {
    Ok(claim_address::submit_claim(
        m, conn, mails, token, address, language,
    )?)
}
