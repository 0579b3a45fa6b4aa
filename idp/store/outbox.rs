//! The `mail_outbox` table: mail written in the same transaction as the change that caused it,
//! sent by the mail worker of any node (claimed with a lease, like the logout deliveries).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::mail_outbox;
use super::{DbConnection, StoreError};

/// A mail as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = mail_outbox)]
pub struct MailRow {
    /// Id.
    pub id: String,
    /// The tenant.
    pub tenant_id: String,
    /// What mail: `reset_password`, …
    pub kind: String,
    /// Recipient address.
    pub to_address: String,
    /// Rendered subject.
    pub subject: String,
    /// Rendered plain text.
    pub body_text: String,
    /// Rendered HTML.
    pub body_html: String,
    /// `pending`, `sent` or `failed`.
    pub status: String,
    /// Attempts made.
    pub attempts: i64,
    /// Not before.
    pub next_attempt_at: NaiveDateTime,
    /// Claimed by a node until then.
    pub locked_until: Option<NaiveDateTime>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Written.
    pub created_at: NaiveDateTime,
    /// Handed to the transport.
    pub sent_at: Option<NaiveDateTime>,
}

/// Writes a mail to the outbox.
pub fn insert(conn: &mut DbConnection, row: &MailRow) -> Result<(), StoreError> {
    diesel::insert_into(mail_outbox::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// A mail by id.
pub fn find(conn: &mut DbConnection, id: &str) -> Result<Option<MailRow>, StoreError> {
    Ok(mail_outbox::table
        .find(id)
        .select(MailRow::as_select())
        .get_result(conn)
        .optional()?)
}

/// Claims up to `limit` due mails (or only `only`, when given) until `lease_until`.
pub fn claim_due(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
    only: Option<&str>,
) -> Result<Vec<MailRow>, StoreError> {
    let free = mail_outbox::locked_until
        .is_null()
        .or(mail_outbox::locked_until.le(now));
    let mut query = mail_outbox::table
        .filter(mail_outbox::status.eq("pending"))
        .filter(mail_outbox::next_attempt_at.le(now))
        .filter(free)
        .order(mail_outbox::next_attempt_at.asc())
        .limit(limit)
        .select(mail_outbox::id)
        .into_boxed();
    if let Some(id) = only {
        query = query.filter(mail_outbox::id.eq(id.to_string()));
    }
    let candidates: Vec<String> = query.load(conn)?;
    let mut claimed = Vec::new();
    for id in candidates {
        let free = mail_outbox::locked_until
            .is_null()
            .or(mail_outbox::locked_until.le(now));
        let won = diesel::update(
            mail_outbox::table
                .find(&id)
                .filter(mail_outbox::status.eq("pending"))
                .filter(free),
        )
        .set(mail_outbox::locked_until.eq(lease_until))
        .execute(conn)?;
        if won == 1
            && let Some(row) = find(conn, &id)?
        {
            claimed.push(row);
        }
    }
    Ok(claimed)
}

/// Records that a mail was handed to the transport.
pub fn sent(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> Result<(), StoreError> {
    diesel::update(mail_outbox::table.find(id))
        .set((
            mail_outbox::status.eq("sent"),
            mail_outbox::sent_at.eq(now),
            mail_outbox::attempts.eq(mail_outbox::attempts + 1),
            mail_outbox::locked_until.eq(None::<NaiveDateTime>),
            mail_outbox::last_error.eq(None::<String>),
        ))
        .execute(conn)?;
    Ok(())
}

/// Records a failed attempt: retry at `next` or, when `next` is none, give up.
pub fn failed(
    conn: &mut DbConnection,
    id: &str,
    error: &str,
    next: Option<NaiveDateTime>,
) -> Result<(), StoreError> {
    let row = mail_outbox::table.find(id);
    let common = (
        mail_outbox::attempts.eq(mail_outbox::attempts + 1),
        mail_outbox::locked_until.eq(None::<NaiveDateTime>),
        mail_outbox::last_error.eq(error),
    );
    match next {
        Some(next) => diesel::update(row)
            .set((common, mail_outbox::next_attempt_at.eq(next)))
            .execute(conn)?,
        None => diesel::update(row)
            .set((common, mail_outbox::status.eq("failed")))
            .execute(conn)?,
    };
    Ok(())
}
