//! The resident's account page: who they are, their name, their password, their sessions.

use crate::flows::oidc::logout::{end_everything, end_session};
use crate::flows::oidc::tokens::Minter;
use crate::flows::oidc::{OAuthError, session};
use crate::store::sessions::SessionRow;
use crate::store::users::UserRow;
use crate::store::{DbConnection, Tenant, audit, links, sessions, users};

/// The session and user behind a session cookie.
pub fn current(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    cookie: Option<&str>,
) -> Result<Option<(SessionRow, UserRow)>, OAuthError> {
    Ok(session::current(conn, Tenant::of(m.tenant), cookie, m.now)?)
}

fn record(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    kind: &str,
    user: &str,
) -> Result<(), OAuthError> {
    audit::record(
        conn,
        &audit::NewEvent {
            tenant_id: Some(&m.tenant.id),
            occurred_at: m.now,
            kind,
            user_id: Some(user),
            client_id: None,
            remote_addr: m.remote_addr.as_deref(),
            detail: None,
        },
    )?;
    Ok(())
}

/// Audits a wrong password given on the account page (`login.failed`, with the signed-in user
/// and which check it was: `account.password` or `account.legacy`).
pub fn check_failed(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user: &UserRow,
    check: &str,
) -> Result<(), OAuthError> {
    let detail = serde_json::json!({ "check": check }).to_string();
    crate::store::write_transaction(conn, |conn| {
        audit::record(
            conn,
            &audit::NewEvent {
                tenant_id: Some(&m.tenant.id),
                occurred_at: m.now,
                kind: "login.failed",
                user_id: Some(&user.id),
                client_id: None,
                remote_addr: None,
                detail: Some(&detail),
            },
        )?;
        Ok(())
    })
}

/// Changes the display name.
pub fn set_name(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user: &UserRow,
    name: Option<&str>,
) -> Result<(), OAuthError> {
    crate::store::write_transaction(conn, |conn| {
        users::set_name(conn, Tenant::of(m.tenant), &user.id, name, m.now)?;
        record(m, conn, "user.name_changed", &user.id)
    })
}

/// Sets a new password (checked and hashed by the caller after the current one was verified) and
/// ends the user's other sessions.
pub fn set_password(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user: &UserRow,
    keep_session: &str,
    password_hash: &str,
) -> Result<(), OAuthError> {
    crate::store::write_transaction(conn, |conn| {
        let tenant = Tenant::of(m.tenant);
        users::set_password(conn, tenant, &user.id, password_hash, m.now)?;
        links::void_for_user(conn, tenant, &user.id, crate::flows::reset::PURPOSE, m.now)?;
        for live in sessions::live_for_user(conn, tenant, &user.id, m.now)? {
            if live.id != keep_session {
                end_session(m, conn, &live.id)?;
            }
        }
        record(m, conn, "password.changed", &user.id)
    })
}

/// Ends every session of the user (and tells every client that shared them).
pub fn sign_out_everywhere(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user: &UserRow,
) -> Result<(), OAuthError> {
    crate::store::write_transaction(conn, |conn| {
        end_everything(m, conn, user)?;
        record(m, conn, "sessions.ended_everywhere", &user.id)
    })
}
