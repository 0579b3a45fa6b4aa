//! Registration, step two: the link opened, a password and a name given — the account created
//! with its welcome mail, logged in, and the pending authorization continued.

use crate::config::Language;
use crate::domain::Email;
use crate::flows::context::Minter;
use crate::flows::error::FlowError;
use crate::flows::mail_link::{self, Completed};
use crate::mail::{self, Mails};
use crate::store::{self, DbConnection, StoreError, Tenant, legacy, users};

use super::start::PURPOSE;

/// The address a usable registration link was sent to.
pub fn link_email(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    token: &str,
) -> Result<Option<String>, FlowError> {
    Ok(mail_link::find_link(m, conn, PURPOSE, token)?.and_then(|l| l.email))
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
/// in one transaction; [`Completed::Done`] is the account created with nothing to continue.
pub fn finish(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    mails: &Mails,
    account: &Account<'_>,
    binding: &str,
    session_cookie: Option<&str>,
) -> Result<Completed, FlowError> {
    let Account {
        token,
        name,
        password_hash,
        language,
    } = *account;
    let tenant = Tenant::of(m.tenant);
    mail_link::complete(m, conn, (binding, session_cookie), |conn| {
        let Some(link) = mail_link::use_link(m, conn, PURPOSE, token)? else {
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
        let about = (m.tenant.id.as_str(), Some(id.as_str()));
        mail::enqueue(conn, about, "welcome", to, &welcome, m.now)?;
        m.audit("user.registered").user(id.as_str()).record(conn)?;
        let user = users::find(conn, tenant, &id)?;
        Ok(user.map(|user| (link, user)))
    })
}
