//! The account page's changes: the name, the password, signing out everywhere, and a wrong
//! current password audited; each in one transaction with its audit event.

use serde_json::json;

use crate::config::Language;
use crate::crypto::secret;
use crate::flows::context::Minter;
use crate::flows::error::FlowError;
use crate::flows::notice::{self, Change};
use crate::flows::oidc::logout::{end_everything, end_pending, end_session};
use crate::flows::oidc::session;
use crate::flows::oidc::steps::NewSession;
use crate::mail::Mails;
use crate::store::sessions::SessionRow;
use crate::store::users::UserRow;
use crate::store::{self, DbConnection, StoreError, Tenant, sessions, users};

/// The session and user behind a session cookie; the session's use noted.
pub fn current(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    cookie: Option<&str>,
) -> Result<Option<(SessionRow, UserRow)>, FlowError> {
    let tenant = Tenant::of(m.tenant);
    let current = session::current(conn, tenant, cookie, m.now)?;
    if let Some((live, _)) = &current
        && session::used_long_ago(live, m.now)
    {
        store::write_transaction(conn, |conn| session::note_use(conn, tenant, live, m.now))?;
    }
    Ok(current)
}

/// Audits a wrong password given on the account page (`login.failed`, with the signed-in user,
/// which check it was: `account.password` or `account.legacy`, and the client's address, as a
/// login's: a stolen session's guesses are traced to where they came from).
pub fn check_failed(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user: &UserRow,
    check: &str,
) -> Result<(), FlowError> {
    let event = m
        .audit("login.failed")
        .user(user.id.as_str())
        .detail(&json!({ "check": check }));
    Ok(store::write_transaction(conn, |conn| event.record(conn))?)
}

/// A change of `user`'s account: `change` and the audit event `kind` of the user, in one
/// transaction.
fn change(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user: &UserRow,
    kind: &str,
    change: impl FnOnce(&mut DbConnection) -> Result<(), StoreError>,
) -> Result<(), FlowError> {
    Ok(store::write_transaction(conn, |conn| {
        change(conn)?;
        m.audit(kind).user(user.id.as_str()).record(conn)
    })?)
}

/// Changes the display name.
pub fn set_name(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user: &UserRow,
    name: Option<&str>,
) -> Result<(), FlowError> {
    change(m, conn, user, "user.name_changed", |conn| {
        users::set_name(conn, Tenant::of(m.tenant), &user.id, name, m.now)
    })
}

/// Sets a new password (checked and hashed by the caller after the current one was verified),
/// ends the user's other sessions, and mails the account's address a notice in `language`. The
/// session it keeps gets a new cookie, returned: a copy of the old one (taken from a shared
/// computer's profile, the reason the resident changes the password) stops working.
pub fn set_password(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    mails: &Mails,
    user: &UserRow,
    keep_session: &str,
    (password_hash, language): (&str, Language),
) -> Result<Option<NewSession>, FlowError> {
    store::write_transaction(conn, |conn| {
        let tenant = Tenant::of(m.tenant);
        users::set_password(conn, tenant, &user.id, password_hash, m.now)?;
        let mut kept = None;
        for live in sessions::live_for_user(conn, tenant, &user.id, m.now)? {
            if live.id != keep_session {
                end_session(m, conn, &live.id)?;
                continue;
            }
            // The same session, proof and times: only its cookie is new.
            let value = secret::random_token();
            let renewed = SessionRow {
                token_hash: secret::hash(&value),
                ..live
            };
            sessions::raise(conn, tenant, &renewed)?;
            kept = Some(NewSession {
                value,
                remember: renewed.remember,
            });
        }
        // What someone who knew the old password began ends too: a change of address he
        // confirms by mail, a login at its second factor.
        end_pending(m, conn, user)?;
        m.audit("password.changed")
            .user(user.id.as_str())
            .record(conn)?;
        notice::account_changed(m, conn, mails, (user, Change::Password), language)?;
        Ok(kept)
    })
}

/// Ends every session of the user (and tells every client that shared them).
pub fn sign_out_everywhere(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user: &UserRow,
) -> Result<(), FlowError> {
    change(m, conn, user, "sessions.ended_everywhere", |conn| {
        end_everything(m, conn, user)
    })
}
