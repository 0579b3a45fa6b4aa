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
    /// The old accounts a linker's mail lists, their ids space-separated ([`name_old_accounts`]).
    pub legacy_account_ids: Option<String>,
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
    // Sent or given up, a mail's text is of no more use, and it holds working links (a reset's,
    // an undo's for 14 days): emptied, so that the database, its replicas and backups hold them
    // only while they wait. The row (recipient, kind, times) stays its week.
    spent: &[
        <mail_outbox::body_text as Column>::NAME,
        <mail_outbox::body_html as Column>::NAME,
    ],
};

/// A mail by id.
pub fn find(conn: &mut DbConnection, id: &str) -> Result<Option<MailRow>> {
    QUEUE.find(conn, id)
}

/// Records that the mail `id` lists the old accounts `ids` (a linker's mail: their usernames and
/// links), so that an erasure or support's deletion of one takes the mail with it
/// ([`forget_mail_naming`]).
pub fn name_old_accounts(conn: &mut DbConnection, id: &str, ids: &[&str]) -> Result<()> {
    diesel::update(mail_outbox::table.find(id))
        .set(mail_outbox::legacy_account_ids.eq(ids.join(" ")))
        .execute(conn)?;
    Ok(())
}

/// Deletes the mails of `tenant` that list any of the old accounts `ids` (the linker's, of
/// [`name_old_accounts`]), wherever they went: a family's shared address keeps the others'
/// mail, not one that names an erased or deleted account. Returns how many went.
pub fn forget_mail_naming(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    ids: &[String],
) -> Result<usize> {
    if ids.is_empty() {
        return Ok(0);
    }
    // At most the linker's mails of the clean-up's week, bounded by the mail limits.
    let listed: Vec<(String, Option<String>)> = mail_outbox::table
        .filter(mail_outbox::tenant_id.eq(tenant.id()))
        .filter(mail_outbox::legacy_account_ids.is_not_null())
        .select((mail_outbox::id, mail_outbox::legacy_account_ids))
        .load(conn)?;
    let gone: Vec<String> = listed
        .into_iter()
        .filter(|(_, named)| {
            named
                .as_deref()
                .is_some_and(|named| named.split(' ').any(|id| ids.iter().any(|i| i == id)))
        })
        .map(|(id, _)| id)
        .collect();
    delete(conn, tenant, &gone)
}

diesel::define_sql_function! {
    /// SQL's `lower()` (ASCII letters on SQLite; the database's locale on PostgreSQL).
    fn lower(text: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// Deletes the mails `ids` of `tenant` (chosen by a caller above, in Rust); how many went.
fn delete(conn: &mut DbConnection, tenant: Tenant<'_>, ids: &[String]) -> Result<usize> {
    if ids.is_empty() {
        return Ok(0);
    }
    let of_tenant = mail_outbox::table.filter(mail_outbox::tenant_id.eq(tenant.id()));
    Ok(diesel::delete(of_tenant.filter(mail_outbox::id.eq_any(ids))).execute(conn)?)
}

/// Deletes the linker's mails of `tenant` (`legacy_link`, which name no account) to any of
/// `addresses` (lookup keys: a mail's spelling is compared by its own key, in Rust, as SQL's
/// `lower` folds ASCII only): an old account deleted at its owner's request takes the mail that
/// lists its username with it.
pub fn forget_linker_mail(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    addresses: &std::collections::BTreeSet<String>,
) -> Result<usize> {
    forget_unnamed_mail(conn, tenant, addresses, (Some("legacy_link"), false))
}

/// Deletes the mails of `tenant` that name no account (of `kind`, or of every kind) to any of
/// `keys` (lookup keys), whatever their spelling: a registration's mail to `Erkki@Testi.FI` goes
/// with the account of `erkki@testi.fi` that is erased. When `lowered` (keys whose other
/// spellings differ in ASCII case only) the mails are found by the index on `lower(to_address)`,
/// else among all the tenant's mails that name no account; each is compared by its own lookup
/// key (PostgreSQL's `lower()` follows the database's locale, and may fold a letter, `İ`, that the
/// key keeps). How many went.
pub fn forget_unnamed_mail(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    keys: &std::collections::BTreeSet<String>,
    (kind, lowered): (Option<&str>, bool),
) -> Result<usize> {
    if keys.is_empty() {
        return Ok(0);
    }
    let mut found = mail_outbox::table
        .filter(mail_outbox::tenant_id.eq(tenant.id()))
        .into_boxed();
    if let Some(kind) = kind {
        found = found.filter(mail_outbox::kind.eq(kind));
    }
    if lowered {
        if keys.is_empty() {
            return Ok(0);
        }
        // Whom a mail names is read below: with it in SQL, SQLite would rather walk the index
        // of `user_id` (every mail that names nobody) than the one of `lower(to_address)`.
        found = found.filter(lower(mail_outbox::to_address).eq_any(keys));
    } else {
        found = found.filter(mail_outbox::user_id.is_null());
    }
    let mails: Vec<(String, String, Option<String>)> = found
        .select((
            mail_outbox::id,
            mail_outbox::to_address,
            mail_outbox::user_id,
        ))
        .load(conn)?;
    let ids: Vec<String> = mails
        .into_iter()
        .filter(|(_, to, user)| user.is_none() && keys.contains(&crate::domain::lookup_key(to)))
        .map(|(id, _, _)| id)
        .collect();
    delete(conn, tenant, &ids)
}
