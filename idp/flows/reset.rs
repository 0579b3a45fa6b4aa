//! Forgot password: a single-use link by mail (only its hash stored), a new password, the user's
//! other sessions ended, and the pending authorization continued.

use chrono::Duration;

use crate::config::Language;
use crate::crypto::secret;
use crate::domain::Email;
use crate::flows::oidc::authorize::{self, Outcome};
use crate::flows::oidc::logout::end_everything;
use crate::flows::oidc::tokens::Minter;
use crate::flows::oidc::{OAuthError, session};
use crate::mail::{self, Mails};
use crate::store::links::{self, LinkRow};
use crate::store::{DbConnection, Tenant, audit, auth_requests, users};

/// The purpose of reset links.
pub const PURPOSE: &str = "reset_password";

/// Writes a reset link for the account of `email`, and its mail, in one transaction; returns the
/// mail's id, or `None` when there is no such account (the page says the same either way).
pub fn request(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    mails: &Mails,
    email: &Email,
    language: Language,
    request_id: Option<&str>,
) -> Result<Option<String>, OAuthError> {
    let Some(user) = users::find_by_email(conn, Tenant::of(m.tenant), email.normalized())?
        .filter(|u| !u.disabled)
    else {
        return Ok(None);
    };
    let token = secret::random_token();
    let minutes = m.config.settings.tokens.link_seconds / 60;
    let mut context = tera::Context::new();
    context.insert("tenant_name", &m.tenant.name);
    context.insert("link", &format!("{}/reset?token={token}", m.issuer));
    context.insert("minutes", &minutes);
    context.insert("support_email", &m.tenant.support.email);
    context.insert("support_phone", &m.tenant.support.phone);
    let rendered = mails
        .render("reset_password", language, &context)
        .map_err(OAuthError::server)?;
    let to = user.email.clone().unwrap_or_else(|| email.to_string());
    let link_seconds = i64::try_from(m.config.settings.tokens.link_seconds).unwrap_or(3600);
    crate::store::write_transaction(conn, |conn| {
        links::insert(
            conn,
            &LinkRow {
                token_hash: secret::hash(&token),
                tenant_id: m.tenant.id.clone(),
                purpose: PURPOSE.into(),
                user_id: Some(user.id.clone()),
                legacy_account_id: None,
                email: Some(to.clone()),
                auth_request_id: request_id.map(str::to_string),
                payload: None,
                created_at: m.now,
                expires_at: m.now + Duration::seconds(link_seconds),
                used_at: None,
            },
        )?;
        let id = mail::enqueue(conn, &m.tenant.id, PURPOSE, &to, &rendered, m.now)?;
        audit::record(
            conn,
            &audit::NewEvent {
                tenant_id: Some(&m.tenant.id),
                occurred_at: m.now,
                kind: "password.reset_requested",
                user_id: Some(&user.id),
                client_id: None,
                remote_addr: None,
                detail: None,
            },
        )?;
        Ok(Some(id))
    })
}

/// Whether `token` is a usable reset link of this tenant.
pub fn usable(m: &Minter<'_>, conn: &mut DbConnection, token: &str) -> Result<bool, OAuthError> {
    Ok(links::find_usable(
        conn,
        Tenant::of(m.tenant),
        PURPOSE,
        &secret::hash(token),
        m.now,
    )?
    .is_some())
}

/// What setting the password led to.
#[derive(Debug)]
pub enum Completed {
    /// The link is unknown, expired or used.
    Expired,
    /// Set; the browser that started the pending request is logged in and goes on.
    Continue {
        /// The new session cookie.
        cookie: String,
        /// Consent or the answer to the client.
        outcome: Outcome,
    },
    /// Set; nothing to continue here (another browser, or no pending request).
    Done,
}

/// Sets the new password (already checked and hashed) through the link, in one transaction:
/// the link used, the password set, every other session of the user ended.
pub fn complete(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    token: &str,
    password_hash: &str,
    binding: &str,
) -> Result<Completed, OAuthError> {
    let token_hash = secret::hash(token);
    let result = crate::store::write_transaction(conn, |conn| {
        let Some(link) =
            links::find_usable(conn, Tenant::of(m.tenant), PURPOSE, &token_hash, m.now)?
        else {
            return Ok(None);
        };
        if !links::use_once(conn, Tenant::of(m.tenant), &token_hash, m.now)? {
            return Ok(None);
        }
        let Some(user) = link
            .user_id
            .as_deref()
            .map(|id| users::find(conn, Tenant::of(m.tenant), id))
            .transpose()?
            .flatten()
            .filter(|u| !u.disabled)
        else {
            return Ok(None);
        };
        users::set_password(conn, Tenant::of(m.tenant), &user.id, password_hash, m.now)?;
        // Other reset links of the account end with this one.
        links::void_for_user(conn, Tenant::of(m.tenant), &user.id, PURPOSE, m.now)?;
        // Whoever held the account keeps nothing: every session and grant, offline ones too.
        end_everything(m, conn, &user)?;
        audit::record(
            conn,
            &audit::NewEvent {
                tenant_id: Some(&m.tenant.id),
                occurred_at: m.now,
                kind: "password.reset",
                user_id: Some(&user.id),
                client_id: None,
                remote_addr: None,
                detail: None,
            },
        )?;
        Ok::<_, OAuthError>(Some((link, user)))
    })?;
    let Some((link, user)) = result else {
        return Ok(Completed::Expired);
    };
    Ok(
        match continue_pending(m, conn, link.auth_request_id.as_deref(), &user, binding)? {
            Some((cookie, outcome)) => Completed::Continue { cookie, outcome },
            None => Completed::Done,
        },
    )
}

/// After a mailed link proved the resident: when this browser started the pending login
/// `request_id`, a session for `user` and the login's next step; else `None`.
pub fn continue_pending(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    request_id: Option<&str>,
    user: &users::UserRow,
    binding: &str,
) -> Result<Option<(String, Outcome)>, OAuthError> {
    let pending = match request_id {
        Some(id) => authorize::pending(m, conn, id, Some(binding))?,
        None => None,
    };
    let Some((row, pending)) = pending else {
        return Ok(None);
    };
    let (session, cookie) = session::start(
        conn,
        user,
        false,
        m.tenant.session_seconds(&m.config.settings.tokens),
        m.now,
    )?;
    auth_requests::delete(conn, Tenant::of(m.tenant), &row.id)?;
    let outcome = authorize::proceed(m, conn, pending.request, &session, user, binding)?;
    Ok(Some((cookie, outcome)))
}
