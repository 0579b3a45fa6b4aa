//! Changing the address (and so the username): a link to the new address; once confirmed, a
//! notice with a one-click undo to the old one. The subject never changes.

use chrono::Duration;
use serde_json::json;

use crate::config::Language;
use crate::crypto::secret;
use crate::domain::Email;
use crate::flows::oidc::OAuthError;
use crate::flows::oidc::logout::end_everything;
use crate::flows::oidc::tokens::Minter;
use crate::mail::{self, Mails};
use crate::store::links::{self, LinkRow};
use crate::store::users::UserRow;
use crate::store::{DbConnection, StoreError, Tenant, audit, users};

/// The purpose of links to a new address.
pub const CONFIRM: &str = "change_email";
/// The purpose of undo links to the old address.
pub const UNDO: &str = "undo_email_change";
/// How long the undo link works.
pub const UNDO_DAYS: i64 = 14;

fn context(m: &Minter<'_>) -> tera::Context {
    let mut context = tera::Context::new();
    context.insert("tenant_name", &m.tenant.name);
    context.insert("support_email", &m.tenant.support.email);
    context.insert("support_phone", &m.tenant.support.phone);
    context.insert("minutes", &(m.config.settings.tokens.link_seconds / 60));
    context
}

fn link(
    m: &Minter<'_>,
    purpose: &str,
    token: &str,
    user: &UserRow,
    email: &str,
    seconds: i64,
    payload: Option<String>,
) -> LinkRow {
    LinkRow {
        token_hash: secret::hash(token),
        tenant_id: m.tenant.id.clone(),
        purpose: purpose.into(),
        user_id: Some(user.id.clone()),
        legacy_account_id: None,
        email: Some(email.to_string()),
        auth_request_id: None,
        payload,
        created_at: m.now,
        expires_at: m.now + Duration::seconds(seconds),
        used_at: None,
    }
}

/// Mails a confirmation link to `new`; returns the mail's id, or `None` when the address is
/// another account's (the page says the same either way).
pub fn request(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    mails: &Mails,
    user: &UserRow,
    new: &Email,
    language: Language,
) -> Result<Option<String>, OAuthError> {
    if users::find_by_email(conn, Tenant::of(m.tenant), new.normalized())?.is_some() {
        return Ok(None);
    }
    let token = secret::random_token();
    let mut context = context(m);
    context.insert("link", &format!("{}/email/confirm?token={token}", m.issuer));
    let rendered = mails
        .render("verify_email", language, &context)
        .map_err(OAuthError::server)?;
    let seconds = i64::try_from(m.config.settings.tokens.link_seconds).unwrap_or(3600);
    crate::store::write_transaction(conn, |conn| {
        links::insert(
            conn,
            &link(m, CONFIRM, &token, user, new.as_entered(), seconds, None),
        )?;
        Ok(Some(mail::enqueue(
            conn,
            &m.tenant.id,
            "verify_email",
            new.as_entered(),
            &rendered,
            m.now,
        )?))
    })
}

/// What following a link led to.
#[derive(Debug, PartialEq, Eq)]
pub enum Followed {
    /// Unknown, expired or used.
    Expired,
    /// The address is another account's now.
    Taken,
    /// Done; the address now in use.
    Done(String),
}

fn take(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    purpose: &str,
    token: &str,
) -> Result<Option<(LinkRow, UserRow)>, OAuthError> {
    let hash = secret::hash(token);
    let Some(link) = links::find_usable(conn, Tenant::of(m.tenant), purpose, &hash, m.now)? else {
        return Ok(None);
    };
    if !links::use_once(conn, Tenant::of(m.tenant), &hash, m.now)? {
        return Ok(None);
    }
    let user = match link.user_id.as_deref() {
        Some(id) => users::find(conn, Tenant::of(m.tenant), id)?,
        None => None,
    };
    Ok(user.map(|u| (link, u)))
}

fn switch(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user: &UserRow,
    address: &str,
) -> Result<Option<Email>, OAuthError> {
    let Ok(email) = Email::parse(address) else {
        return Ok(None);
    };
    if users::find_by_email(conn, Tenant::of(m.tenant), email.normalized())?
        .is_some_and(|u| u.id != user.id)
    {
        return Ok(None);
    }
    match users::set_email(
        conn,
        Tenant::of(m.tenant),
        &user.id,
        email.as_entered(),
        email.normalized(),
        m.now,
    ) {
        Ok(()) => Ok(Some(email)),
        Err(StoreError::UniqueViolation(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Confirms the new address: switches to it and mails the old one a notice with an undo link,
/// in one transaction.
pub fn confirm(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    mails: &Mails,
    language: Language,
    token: &str,
) -> Result<Followed, OAuthError> {
    crate::store::write_transaction(conn, |conn| {
        let Some((link, user)) = take(m, conn, CONFIRM, token)? else {
            return Ok(Followed::Expired);
        };
        let Some(new) = switch(m, conn, &user, link.email.as_deref().unwrap_or_default())? else {
            return Ok(Followed::Taken);
        };
        // Links mailed before the change (a reset, another confirmation, a linker link) could
        // still act on the account from the old address: void them. Undo links stay: they are
        // the old address's owner's way back if this change was not theirs.
        links::void_all_for_user(conn, Tenant::of(m.tenant), &user.id, &[UNDO], m.now)?;
        if let Some(old) = user.email.clone() {
            let undo = secret::random_token();
            let payload = json!({ "new": new.as_entered() }).to_string();
            links::insert(conn, &link_row_undo(m, &undo, &user, &old, payload))?;
            let mut context = context(m);
            context.insert("new_email", new.as_entered());
            context.insert("link", &format!("{}/email/undo?token={undo}", m.issuer));
            let rendered = mails
                .render("email_changed", language, &context)
                .map_err(OAuthError::server)?;
            mail::enqueue(conn, &m.tenant.id, "email_changed", &old, &rendered, m.now)?;
        }
        audit_event(m, conn, "email.changed", &user.id)?;
        // No second subject for an old account's address: the link proved the address, as the
        // linker's own link does, so its one unbound old account joins this one. Several (a
        // shared address) wait on the account page for the resident to choose.
        let legacy =
            crate::store::legacy::unlinked_by_email(conn, Tenant::of(m.tenant), new.normalized())?;
        if let [only] = legacy.as_slice() {
            crate::flows::linker::bind_to_user(m, conn, only, &user, "email_change")?;
        }
        Ok(Followed::Done(new.as_entered().to_string()))
    })
}

fn link_row_undo(
    m: &Minter<'_>,
    token: &str,
    user: &UserRow,
    old: &str,
    payload: String,
) -> LinkRow {
    link(
        m,
        UNDO,
        token,
        user,
        old,
        UNDO_DAYS * 24 * 3600,
        Some(payload),
    )
}

/// The new address a confirmation link switches to, if it is usable.
pub fn confirm_target(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    token: &str,
) -> Result<Option<String>, OAuthError> {
    Ok(links::find_usable(
        conn,
        Tenant::of(m.tenant),
        CONFIRM,
        &secret::hash(token),
        m.now,
    )?
    .and_then(|l| l.email))
}

/// The old address an undo link restores, if it is usable.
pub fn undo_target(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    token: &str,
) -> Result<Option<String>, OAuthError> {
    Ok(links::find_usable(
        conn,
        Tenant::of(m.tenant),
        UNDO,
        &secret::hash(token),
        m.now,
    )?
    .and_then(|l| l.email))
}

/// Restores the old address and ends every session of the account (someone else may hold one).
pub fn undo(m: &Minter<'_>, conn: &mut DbConnection, token: &str) -> Result<Followed, OAuthError> {
    crate::store::write_transaction(conn, |conn| {
        let Some((link, user)) = take(m, conn, UNDO, token)? else {
            return Ok(Followed::Expired);
        };
        let Some(old) = switch(m, conn, &user, link.email.as_deref().unwrap_or_default())? else {
            return Ok(Followed::Taken);
        };
        end_everything(m, conn, &user)?;
        audit_event(m, conn, "email.change_undone", &user.id)?;
        Ok(Followed::Done(old.as_entered().to_string()))
    })
}

fn audit_event(
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
            remote_addr: None,
            detail: None,
        },
    )?;
    Ok(())
}
