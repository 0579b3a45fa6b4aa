//! Registration: an address, a link to it, then a password and a name — the account, logged in,
//! and the pending authorization continued. An address that has an account gets a mail saying
//! so instead; the page is the same either way.

use chrono::Duration;

use crate::config::Language;
use crate::crypto::secret;
use crate::domain::Email;
use crate::flows::linker;
use crate::flows::oidc::authorize::{self, Outcome};
use crate::flows::oidc::tokens::Minter;
use crate::flows::oidc::{OAuthError, session};
use crate::mail::{self, Mails};
use crate::store::links::{self, LinkRow};
use crate::store::{self, DbConnection, StoreError, audit, auth_requests, legacy, users};

/// The purpose of registration links.
pub const PURPOSE: &str = "register";

fn mail_context(m: &Minter<'_>) -> tera::Context {
    let mut context = tera::Context::new();
    context.insert("tenant_name", &m.tenant.name);
    context.insert("support_email", &m.tenant.support.email);
    context.insert("support_phone", &m.tenant.support.phone);
    context.insert("minutes", &(m.config.settings.tokens.link_seconds / 60));
    context
}

/// Writes the registration link (or the "you have an account" mail) for `email`; returns the
/// mail's id.
pub fn start(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    mails: &Mails,
    email: &Email,
    language: Language,
    request_id: Option<&str>,
) -> Result<String, OAuthError> {
    let mut context = mail_context(m);
    let existing = users::find_by_email(conn, &m.tenant.id, email.normalized())?;
    if let Some(user) = existing {
        let forgot = match request_id {
            Some(id) => format!("{}/forgot?request={id}", m.issuer),
            None => format!("{}/forgot", m.issuer),
        };
        context.insert("forgot_link", &forgot);
        let rendered = mails
            .render("account_exists", language, &context)
            .map_err(OAuthError::server)?;
        // The stored address, never the text as typed (which may differ in case or form).
        let to = user.email.unwrap_or_else(|| email.as_entered().to_string());
        return Ok(mail::enqueue(
            conn,
            &m.tenant.id,
            "account_exists",
            &to,
            &rendered,
            m.now,
        )?);
    }
    // An old account's address goes through the linker: a fresh subject would split the
    // resident's history (DESIGN.md §2.5).
    let legacy = legacy::unlinked_by_email(conn, &m.tenant.id, email.normalized())?;
    if let Some(first) = legacy.first() {
        // The old accounts' stored address, never the text as typed.
        let to = first
            .email
            .clone()
            .unwrap_or_else(|| email.as_entered().to_string());
        return linker::send_links(
            m,
            conn,
            mails,
            &legacy,
            linker::LinkMail {
                to: &to,
                language,
                request_id,
                user: None,
            },
        );
    }
    let token = secret::random_token();
    context.insert(
        "link",
        &format!("{}/register/complete?token={token}", m.issuer),
    );
    let rendered = mails
        .render("register", language, &context)
        .map_err(OAuthError::server)?;
    let link_seconds = i64::try_from(m.config.settings.tokens.link_seconds).unwrap_or(3600);
    crate::store::write_transaction(conn, |conn| {
        links::insert(
            conn,
            &LinkRow {
                token_hash: secret::hash(&token),
                tenant_id: m.tenant.id.clone(),
                purpose: PURPOSE.into(),
                user_id: None,
                legacy_account_id: None,
                email: Some(email.as_entered().to_string()),
                auth_request_id: request_id.map(str::to_string),
                payload: None,
                created_at: m.now,
                expires_at: m.now + Duration::seconds(link_seconds),
                used_at: None,
            },
        )?;
        Ok(mail::enqueue(
            conn,
            &m.tenant.id,
            PURPOSE,
            email.as_entered(),
            &rendered,
            m.now,
        )?)
    })
}

/// The address a usable registration link was sent to.
pub fn link_email(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    token: &str,
) -> Result<Option<String>, OAuthError> {
    Ok(
        links::find_usable(conn, &m.tenant.id, PURPOSE, &secret::hash(token), m.now)?
            .and_then(|l| l.email),
    )
}

/// What finishing a registration led to.
#[derive(Debug)]
pub enum Finished {
    /// The link is unknown, expired or used.
    Expired,
    /// Created; the browser that started the pending request is logged in and goes on.
    Continue {
        /// The new session cookie.
        cookie: String,
        /// Consent or the answer to the client.
        outcome: Outcome,
    },
    /// Created; nothing to continue here.
    Created,
}

/// What the resident gave on the last page.
pub struct Account<'a> {
    /// The link's secret.
    pub token: &'a str,
    /// Display name.
    pub name: Option<&'a str>,
    /// The argon2id hash of the chosen password.
    pub password_hash: &'a str,
    /// The page's language (for the welcome mail).
    pub language: Language,
}

/// Creates the account through the link (the address is verified by it), with its welcome mail,
/// in one transaction.
pub fn finish(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    mails: &Mails,
    account: &Account<'_>,
    binding: &str,
) -> Result<Finished, OAuthError> {
    let Account {
        token,
        name,
        password_hash,
        language,
    } = *account;
    let token_hash = secret::hash(token);
    let created = crate::store::write_transaction(conn, |conn| {
        let Some(link) = links::find_usable(conn, &m.tenant.id, PURPOSE, &token_hash, m.now)?
        else {
            return Ok(None);
        };
        if !links::use_once(conn, &token_hash, m.now)? {
            return Ok(None);
        }
        let Some(email) = link.email.as_deref().and_then(|e| Email::parse(e).ok()) else {
            return Ok(None);
        };
        if users::find_by_email(conn, &m.tenant.id, email.normalized())?.is_some()
            || !legacy::unlinked_by_email(conn, &m.tenant.id, email.normalized())?.is_empty()
        {
            return Ok(None);
        }
        let id = store::new_id(m.now);
        let subject = uuid::Uuid::new_v4().to_string();
        users::insert(
            conn,
            &users::NewUser {
                id: &id,
                tenant_id: &m.tenant.id,
                subject: &subject,
                email: Some(email.as_entered()),
                email_normalized: Some(email.normalized()),
                email_verified: true,
                username: None,
                username_normalized: None,
                is_authority: false,
                name,
                password_hash: Some(password_hash),
                password_changed_at: Some(m.now),
                created_at: m.now,
                updated_at: m.now,
            },
        )
        .map_err(|e| match e {
            StoreError::UniqueViolation(_) => OAuthError::invalid_request("the address is taken"),
            other => other.into(),
        })?;
        let mut context = mail_context(m);
        context.insert("email", email.as_entered());
        let welcome = mails
            .render("welcome", language, &context)
            .map_err(OAuthError::server)?;
        mail::enqueue(
            conn,
            &m.tenant.id,
            "welcome",
            email.as_entered(),
            &welcome,
            m.now,
        )?;
        audit::record(
            conn,
            &audit::NewEvent {
                tenant_id: Some(&m.tenant.id),
                occurred_at: m.now,
                kind: "user.registered",
                user_id: Some(&id),
                client_id: None,
                remote_addr: None,
                detail: None,
            },
        )?;
        Ok::<_, OAuthError>(Some((link, id)))
    })?;
    let Some((link, user_id)) = created else {
        return Ok(Finished::Expired);
    };
    let pending = match &link.auth_request_id {
        Some(id) => authorize::pending(m, conn, id, Some(binding))?,
        None => None,
    };
    let (Some((row, pending)), Some(user)) = (pending, users::find(conn, &user_id)?) else {
        return Ok(Finished::Created);
    };
    let (session, cookie) = session::start(
        conn,
        &user,
        false,
        m.tenant.session_seconds(&m.config.settings.tokens),
        m.now,
    )?;
    auth_requests::delete(conn, &row.id)?;
    let outcome = authorize::proceed(m, conn, pending.request, &session, &user, binding)?;
    Ok(Finished::Continue { cookie, outcome })
}
