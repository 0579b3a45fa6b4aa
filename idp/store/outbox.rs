//! The `mail_outbox` table: mail written in the same transaction as the change that caused it,
//! sent by the mail worker of any node through [`QUEUE`] ([`super::lease_queue`], as the logout
//! deliveries).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::lease_queue::{LeaseQueue, QueueState};
use super::schema::mail_outbox;
use super::{DbConnection, Result, Tenant};

/// A mail as stored.
#[derive(Debug, Clone, QueryableByName, Insertable)]
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
    /// Where it stands in the queue (`pending`, `sent` or `failed`).
    #[diesel(embed)]
    pub queue: QueueState,
    /// Written.
    pub created_at: NaiveDateTime,
    /// Handed to the transport.
    pub sent_at: Option<NaiveDateTime>,
    /// The account the mail is about, when there is one (an erasure deletes its mail by it).
    pub user_id: Option<String>,
}

/// Writes a mail to the outbox.
pub fn insert(conn: &mut DbConnection, row: &MailRow) -> Result<()> {
    super::rows::insert(conn, mail_outbox::table, row)
}

/// The queue: a sent mail is `sent`, at `sent_at`.
pub const QUEUE: LeaseQueue = LeaseQueue {
    table: "mail_outbox",
    done: "sent",
    done_at: <mail_outbox::sent_at as Column>::NAME,
    // One relay takes every mail: the longest waiting go first.
    turns_by: None,
};

/// A mail by id.
pub fn find(conn: &mut DbConnection, id: &str) -> Result<Option<MailRow>> {
    QUEUE.find(conn, id)
}

/// Deletes the mails of `tenant` to any of `addresses` (as written) that name no account (the
/// linker's mail about old accounts, written before anyone logged in): an old account deleted at
/// its owner's request takes the mail that lists its username with it, where nobody else holds
/// the address.
pub fn forget_unowned(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    addresses: &[&str],
) -> Result<usize> {
    Ok(diesel::delete(
        mail_outbox::table
            .filter(mail_outbox::tenant_id.eq(tenant.id()))
            .filter(mail_outbox::user_id.is_null())
            .filter(mail_outbox::to_address.eq_any(addresses)),
    )
    .execute(conn)?)
}
