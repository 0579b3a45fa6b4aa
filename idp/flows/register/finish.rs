//! Registration, step two: the link opened, a password and a name given — the account created
//! with its welcome mail, logged in, and the pending authorization continued.

use crate::config::Language;
use crate::crypto::secret;
use crate::domain::Email;
use crate::flows::context::Minter;
use crate::flows::error::FlowError;
use crate::flows::mail_link;
use crate::flows::oidc::authorize::Outcome;
use crate::flows::oidc::resume::continue_pending;
use crate::mail::{self, Mails};
use crate::store::links;
use crate::store::{self, DbConnection, StoreError, Tenant, legacy, users};

use super::start::PURPOSE;

/// The address a usable registration link was sent to.
pub fn link_email(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    token: &str,
) -> Result<Option<String>, FlowError> {
    let tenant = Tenant::of(m.tenant);
    let link = links::find_usable(conn, tenant, PURPOSE, &secret::hash(token), m.now)?;
    Ok(link.and_then(|l| l.email))
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
) -> Result<Finished, FlowError> {
    let Account {
        token,
        name,
        password_hash,
        language,
    } = *account;
    let token_hash = secret::hash(token);
    let tenant = Tenant::of(m.tenant);
    let created = store::write_transaction(conn, |conn| {
        let Some(link) = mail_link::use_link(m, conn, PURPOSE, &token_hash)? else {
            return Ok(None);
        };
        let Some(email) = link.email.as_deref().and_then(|e| Email::parse(e).ok()) else {
            return Ok(None);
        };
        if users::find_by_email(conn, tenant, email.normalized())?.is_some()
            || !legacy::unlinked_by_email(conn, tenant, email.normalized())?.is_empty()
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
            StoreError::UniqueViolation(_) => FlowError::AddressTaken,
            other => other.into(),
        })?;
        let mut context = mail_link::context(m);
        context.insert("email", email.as_entered());
        let welcome = mail_link::render(mails, "welcome", language, &context)?;
        let to = email.as_entered();
        mail::enqueue(conn, &m.tenant.id, "welcome", to, &welcome, m.now)?;
        m.audit("user.registered").user(id.as_str()).record(conn)?;
        Ok::<_, FlowError>(Some((link, id)))
    })?;
    let Some((link, user_id)) = created else {
        return Ok(Finished::Expired);
    };
    let Some(user) = users::find(conn, tenant, &user_id)? else {
        return Ok(Finished::Created);
    };
    let request_id = link.auth_request_id.as_deref();
    Ok(
        match continue_pending(m, conn, request_id, &user, binding)? {
            Some((cookie, outcome)) => Finished::Continue { cookie, outcome },
            None => Finished::Created,
        },
    )
}
