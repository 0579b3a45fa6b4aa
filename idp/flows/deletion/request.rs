//! The request to delete an account, in one write transaction: the deletion recorded and the
//! account disabled; every session ended and every grant revoked, with the back-channel logouts
//! queued (`oidc::logout::end_everything`); consents, pending logins, ceremonies and unused
//! links gone; the undo link mailed to the account's address; `account.deletion_requested`
//! audited with who asked (`by`: `resident` or `cli`).

use chrono::{Duration, NaiveDateTime};
use serde_json::json;

use crate::config::Language;
use crate::crypto::secret;
use crate::flows::context::Minter;
use crate::flows::error::FlowError;
use crate::flows::oidc::logout::end_everything;
use crate::flows::{mail_limit, mail_link};
use crate::i18n;
use crate::mail::{self, Mails};
use crate::store::deletions::{self, DeletionRow};
use crate::store::links::{self, LinkRow};
use crate::store::users::{self, UserRow};
use crate::store::{self, DbConnection, StoreError, Tenant, erasure};

/// The purpose of the undo link.
pub const UNDO: &str = links::UNDO_DELETION;

/// What a request led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requested {
    /// Asked for: the account is erased at `erase_at` unless undone; `mail` is the undo mail's id
    /// (`None`: the account has no address).
    Done {
        /// The end of the grace period.
        erase_at: NaiveDateTime,
        /// The undo mail.
        mail: Option<String>,
    },
    /// The account's deletion was asked for before (or it is erased): nothing changed.
    Already(NaiveDateTime),
}

/// Asks for the deletion of `user` (see the module's documentation); the undo mail in
/// `language`.
pub fn request(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    mails: &Mails,
    user: &UserRow,
    language: Language,
    by: &str,
) -> Result<Requested, FlowError> {
    store::write_transaction(conn, |conn| {
        let tenant = Tenant::of(m.tenant);
        if let Some(earlier) = deletions::find(conn, tenant, &user.id)? {
            return Ok(Requested::Already(earlier.erase_at));
        }
        if let Some(to) = user.email_normalized.as_deref() {
            // Counted, never refused: only the owner (or support) causes the undo mail, and only
            // to the account's own address; a full limit must not stop the deletion.
            let counted = mail_limit::Mail {
                kind: "account_deleted",
                to,
                user: Some(&user.id),
                budget: mail_limit::Budget::Shared,
            };
            mail_limit::count(m, conn, counted)?;
        }
        let erase_at = m.now + Duration::days(i64::from(m.tenant.deletion.undo_days));
        record(m, conn, user, erase_at, by)?;
        let mail = match user.email.as_deref() {
            Some(to) => Some(undo_mail(m, conn, mails, user, to, erase_at, language)?),
            None => None,
        };
        Ok(Requested::Done { erase_at, mail })
    })
}

/// Erases `user` at once, without a grace period (`idp users delete --now`, for a support case
/// that demands it): the request recorded and everything ended as [`request`] does, then the
/// erasure (`store::erasure::erase`), in one transaction. Returns the audit trail's pseudonym;
/// `None` when the account was erased before.
pub fn erase_now(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user: &UserRow,
    by: &str,
) -> Result<Option<String>, FlowError> {
    store::write_transaction(conn, |conn| {
        let tenant = Tenant::of(m.tenant);
        match deletions::find(conn, tenant, &user.id)? {
            Some(done) if done.erased_at.is_some() => return Ok(None),
            Some(_) => {}
            None => record(m, conn, user, m.now, by)?,
        }
        Ok(erasure::erase(conn, tenant, &user.id, by, m.now)?)
    })
}

/// Records the deletion of `user` due at `erase_at`, disables the account, ends what it holds
/// and audits `account.deletion_requested`.
fn record(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user: &UserRow,
    erase_at: NaiveDateTime,
    by: &str,
) -> Result<(), StoreError> {
    deletions::insert(
        conn,
        &DeletionRow {
            user_id: user.id.clone(),
            tenant_id: m.tenant.id.clone(),
            requested_at: m.now,
            erase_at,
            was_disabled: user.disabled,
            requested_by: by.to_string(),
            erased_at: None,
        },
    )?;
    users::set_disabled(conn, Tenant::of(m.tenant), &user.id, true, m.now)?;
    // Sessions and grants (with their back-channel logouts), consents, pending logins,
    // ceremonies, unused links but the ways back (the undo link of a change of address made
    // before stays, the old address's owner's way back).
    end_everything(m, conn, user)?;
    m.audit("account.deletion_requested")
        .user(user.id.as_str())
        .detail(&json!({ "by": by }))
        .record(conn)
}

/// Writes the undo link (usable until `erase_at`) and its mail to `to`; the mail's id.
fn undo_mail(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    mails: &Mails,
    user: &UserRow,
    to: &str,
    erase_at: NaiveDateTime,
    language: Language,
) -> Result<String, FlowError> {
    let language = crate::flows::notice::owner_language(m, user, language);
    let token = secret::random_token();
    links::insert(
        conn,
        &LinkRow {
            user_id: Some(user.id.clone()),
            email: Some(to.to_string()),
            expires_at: erase_at,
            ..mail_link::row(m, UNDO, &token)
        },
    )?;
    let mut context = mail_link::link_context(m, &["account", "undo-deletion"], &token)?;
    context.insert(
        "date",
        &i18n::moment(m.tenant.time_zone, language, erase_at),
    );
    let rendered = mail_link::render(mails, "account_deleted", language, &context)?;
    Ok(mail::enqueue(
        conn,
        (&m.tenant.id, Some(&user.id)),
        "account_deleted",
        to,
        &rendered,
        m.now,
    )?)
}
