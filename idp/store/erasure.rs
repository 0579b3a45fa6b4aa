//! The erasure of an account (GDPR Art. 17), the last step of its deletion: every row about the
//! user goes, the `users` row stays as a tombstone (tenant, subject, disabled; under a new random
//! id, its times one constant) so that the subject is never issued again, and the audit events
//! about the user are pseudonymised. The old accounts bound to the user become tombstones too:
//! their old username becomes [`ERASED_PREFIX`] and a random text, their address, hash and name
//! go, their subject and binding stay; so a re-import of the same old account finds its subject
//! taken and is refused (`flows/legacy_import/batch.rs`), and no login can bind it again.
//!
//! The expiry clean-up (`cleanup.rs`) erases the accounts whose grace period has ended, in its
//! one transaction (on PostgreSQL under its advisory lock, so once across nodes), at most
//! [`PER_ROUND`] a round; `idp users delete --now` erases one at once. Both then empty SQLite's
//! WAL ([`clear_wal`]); every SQLite connection has `secure_delete` on (`store::sqlite_setup`),
//! so what an erasure clears or deletes is overwritten in the file, not left in its free space.

use std::collections::BTreeSet;

use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use super::audit::{self, Event};
use super::mail_limits::Budget;
use super::schema::{
    grants, legacy_accounts, login_throttle, mail_limit_events, mail_outbox, one_time_links,
    passkey_offers, sso_sessions, users as user_rows,
};
use super::throttle::ThrottleKey;
use super::users::{self, UserRow};
use super::{
    DbConnection, Result, Tenant, access, ceremonies, deletions, epochs, passkeys, second_factors,
};
use crate::crypto::secret;
use crate::domain::lookup_key;

/// How an erased old account's username, and the pseudonym of an erased account in the audit
/// trail, begin (the rest is random).
pub use super::audit::ERASED_PREFIX;

/// The most accounts one round of the clean-up erases per tenant; the rest wait for the next.
pub const PER_ROUND: i64 = 50;

/// Erases the accounts of `tenant` whose grace period ended before `now` (at most
/// [`PER_ROUND`]); returns how many. Inside the caller's transaction.
pub fn erase_due(conn: &mut DbConnection, tenant: Tenant<'_>, now: NaiveDateTime) -> Result<usize> {
    let due = deletions::due(conn, tenant, now, PER_ROUND)?;
    let mut erased = 0;
    for deletion in &due {
        if erase(conn, tenant, &deletion.user_id, &deletion.requested_by, now)?.is_some() {
            erased += 1;
        }
    }
    Ok(erased)
}

/// Erases the user `user_id` of `tenant` now (see the module's documentation), inside the
/// caller's transaction, and audits `account.erased` under the pseudonym, with `by` (`cleanup`
/// or `cli`). Returns the pseudonym, or `None` when there is no such user or no deletion of it
/// still to erase.
///
/// The deletion is marked erased first, by a conditional update: a clean-up round that read its
/// due deletions before the resident's undo committed (another node, on PostgreSQL's READ
/// COMMITTED) finds the deletion gone and erases nothing; an undo that comes after this update
/// waits for its row and finds nothing to undo.
pub fn erase(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    user_id: &str,
    by: &str,
    now: NaiveDateTime,
) -> Result<Option<String>> {
    let Some(user) = users::find(conn, tenant, user_id)? else {
        return Ok(None);
    };
    if !deletions::mark_erased(conn, tenant, user_id, now)? {
        return Ok(None);
    }
    // Then the user's row, before what a login of the account uses (its passkeys, its throttle
    // rows): a login holds the user's row first too (`flows/oidc/standing.rs`).
    users::lock(conn, tenant, user_id)?;
    let addresses = addresses(conn, tenant, &user)?;
    // A grant's codes and refresh tokens go with it (ON DELETE CASCADE); grants before the
    // sessions they may name.
    diesel::delete(
        grants::table
            .filter(grants::tenant_id.eq(tenant.id()))
            .filter(grants::user_id.eq(user_id)),
    )
    .execute(conn)?;
    access::delete_consents(conn, tenant, user_id)?;
    second_factors::remove_pending_logins(conn, tenant, user_id)?;
    diesel::delete(
        sso_sessions::table
            .filter(sso_sessions::tenant_id.eq(tenant.id()))
            .filter(sso_sessions::user_id.eq(user_id)),
    )
    .execute(conn)?;
    passkeys::remove_all(conn, tenant, user_id)?;
    diesel::delete(
        passkey_offers::table
            .filter(passkey_offers::tenant_id.eq(tenant.id()))
            .filter(passkey_offers::user_id.eq(user_id)),
    )
    .execute(conn)?;
    second_factors::remove_all(conn, tenant, user_id)?;
    ceremonies::remove_for_user(conn, tenant, user_id)?;
    epochs::forget(conn, tenant, user_id)?;
    forget_addresses(conn, tenant, &user, &addresses)?;
    tombstone_old_accounts(conn, tenant, user_id)?;
    users::tombstone(conn, tenant, user_id, TOMBSTONE_TIME)?;
    deletions::blur(conn, tenant, user_id, TOMBSTONE_TIME)?;
    let pseudonym = pseudonym();
    audit::pseudonymise(conn, tenant, user_id, &pseudonym)?;
    rekey(conn, tenant, user_id)?;
    Event::new(tenant.id(), now, "account.erased")
        .user(pseudonym.as_str())
        .detail(&serde_json::json!({ "by": by }))
        .record(conn)?;
    Ok(Some(pseudonym))
}

/// Moves the tombstone `user_id` of `tenant` to a new random id, with what still names it (its
/// bound old accounts, its deletion): the id was made from the account's creation time
/// (`store::new_id`, a UUIDv7), which equals the time of the account's first event in the trail
/// and would name the subject behind the pseudonym. On SQLite the row's place among the tenant's
/// users goes with it too. The subject is held by a stand-in while both rows exist (it is unique).
fn rekey(conn: &mut DbConnection, tenant: Tenant<'_>, user_id: &str) -> Result<()> {
    let Some(mut row) = users::find(conn, tenant, user_id)? else {
        return Ok(());
    };
    let id = uuid::Uuid::new_v4().to_string();
    let subject = std::mem::replace(&mut row.subject, format!("{ERASED_PREFIX}{id}"));
    row.id.clone_from(&id);
    super::rows::insert(conn, user_rows::table, &row)?;
    diesel::update(
        legacy_accounts::table
            .filter(legacy_accounts::tenant_id.eq(tenant.id()))
            .filter(legacy_accounts::linked_user_id.eq(user_id)),
    )
    .set(legacy_accounts::linked_user_id.eq(&id))
    .execute(conn)?;
    deletions::rekey(conn, tenant, user_id, &id)?;
    diesel::delete(
        user_rows::table
            .find(user_id)
            .filter(user_rows::tenant_id.eq(tenant.id())),
    )
    .execute(conn)?;
    diesel::update(user_rows::table.find(&id))
        .set(user_rows::subject.eq(subject))
        .execute(conn)?;
    scatter(conn, "users", "id", &id)?;
    scatter(conn, "account_deletions", "user_id", &id)?;
    Ok(())
}

/// On SQLite, gives the row of `table` whose `key` is `value` a random negative `rowid`. A new row gets
/// the largest `rowid` so far plus one, and a row keeps its own when its key changes: the
/// tombstones and the erased deletions, read in `rowid` order, would come in the order of their
/// erasures and requests, which the pseudonymised trail has too. PostgreSQL's rows have no such
/// number; where a row lies in its files is its own matter (docs/privacy.md).
fn scatter(conn: &mut DbConnection, table: &str, key: &str, value: &str) -> Result<()> {
    let DbConnection::Sqlite(sqlite) = conn else {
        return Ok(());
    };
    let random = uuid::Uuid::new_v4();
    let bytes: [u8; 8] = random.as_bytes()[..8].try_into().unwrap_or_default();
    // Negative: a new row still gets the largest rowid plus one, which a random positive one
    // would become and then date every row after it (from -2^62 to -1, never 0).
    let rowid = -i64::from_le_bytes(bytes).rem_euclid(1 << 62) - 1;
    diesel::sql_query(format!("UPDATE {table} SET rowid = ? WHERE {key} = ?"))
        .bind::<diesel::sql_types::BigInt, _>(rowid)
        .bind::<diesel::sql_types::Text, _>(value)
        .execute(sqlite)?;
    Ok(())
}

/// How long [`clear_wal`] waits for readers of older snapshots and for a writer at most. The
/// checkpoint holds the write lock meanwhile, so this process's writers wait for it (in SQLite's
/// busy handler, [`super::transaction::BUSY_TIMEOUT`] at most): kept well below that, so that
/// an erasure never makes a request fail with 503.
const WAL_CHECKPOINT_WAIT: Duration = Duration::from_secs(1);

/// What [`clear_wal`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalCleared {
    /// SQLite: every frame of the WAL copied into the file and the WAL truncated to nothing.
    Done,
    /// PostgreSQL: nothing to do here (its WAL and dead tuples: docs/privacy.md).
    NotSqlite,
    /// SQLite: the checkpoint could not complete (a reader kept an older snapshot for longer than
    /// [`WAL_CHECKPOINT_WAIT`], or another process wrote), or failed: why. The erasure stands;
    /// the old frames stay in the WAL until later checkpoints overwrite them, or the next
    /// erasure's truncates it.
    Unfinished(String),
}

#[derive(QueryableByName)]
struct Checkpoint {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    busy: i32,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    log: i32,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    checkpointed: i32,
}

/// After an erasure has committed (the clean-up round that erased accounts, `idp users delete
/// --now`), on SQLite: checkpoints the WAL into the file and truncates it (`PRAGMA
/// wal_checkpoint(TRUNCATE)`), so that the erased values leave the WAL's old frames at once, as
/// `secure_delete` has already zeroed them in the file's pages. Outside any transaction, on a
/// connection of the pool. Never fails the erasure: a checkpoint that cannot complete is
/// [`WalCleared::Unfinished`], for the caller to log.
pub fn clear_wal(conn: &mut DbConnection) -> WalCleared {
    let DbConnection::Sqlite(sqlite) = conn else {
        return WalCleared::NotSqlite;
    };
    let wait = |timeout: Duration| format!("PRAGMA busy_timeout = {};", timeout.as_millis());
    let outcome = sqlite
        .batch_execute(&wait(WAL_CHECKPOINT_WAIT))
        .and_then(|()| {
            let checkpoint = diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)")
                .get_result::<Checkpoint>(sqlite);
            // The pool's connection waits as long as the others again.
            let restored = sqlite.batch_execute(&wait(super::transaction::BUSY_TIMEOUT));
            let checkpoint = checkpoint?;
            restored.map(|()| checkpoint)
        });
    match outcome {
        Ok(checkpoint) if checkpoint.busy == 0 => WalCleared::Done,
        Ok(checkpoint) => WalCleared::Unfinished(format!(
            "the WAL is in use: {} of its {} frames checkpointed",
            checkpoint.checkpointed, checkpoint.log
        )),
        Err(error) => WalCleared::Unfinished(error.to_string()),
    }
}

/// `erased-` and 16 random characters.
fn pseudonym() -> String {
    let random = secret::random_token();
    format!("{ERASED_PREFIX}{}", random.get(..16).unwrap_or(&random))
}

/// The time every time a tombstone keeps is set to (the account's creation, its deletion's
/// request and erasure, its old accounts' import and binding). Each of those times equals the
/// time of an event of the account in the audit trail (`user.registered`, `legacy.linked`,
/// `account.deletion_requested`, `account.erased`): kept, a join on them would name the subject
/// behind the pseudonym. The trail's own times stay (its hash chain holds them).
pub const TOMBSTONE_TIME: NaiveDateTime = chrono::DateTime::UNIX_EPOCH.naive_utc();

/// Makes the old accounts bound to the user `user_id` tombstones (see the module's
/// documentation), each under a new random id: the audit events of no user that named it (a link
/// mailed, a claim refused, with the client address of whoever asked) then name no row. Its
/// links (all used or void: binding voided them) and throttle counters go first.
fn tombstone_old_accounts(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    user_id: &str,
) -> Result<()> {
    let ids: Vec<String> = legacy_accounts::table
        .filter(legacy_accounts::tenant_id.eq(tenant.id()))
        .filter(legacy_accounts::linked_user_id.eq(user_id))
        .select(legacy_accounts::id)
        .load(conn)?;
    let none = None::<String>;
    for id in ids {
        diesel::delete(
            one_time_links::table
                .filter(one_time_links::tenant_id.eq(tenant.id()))
                .filter(one_time_links::legacy_account_id.eq(&id)),
        )
        .execute(conn)?;
        super::throttle::forget_legacy(conn, tenant, &id)?;
        let username = pseudonym();
        diesel::update(
            legacy_accounts::table
                .find(&id)
                .filter(legacy_accounts::tenant_id.eq(tenant.id())),
        )
        .set((
            (
                legacy_accounts::id.eq(uuid::Uuid::new_v4().to_string()),
                legacy_accounts::username.eq(&username),
                legacy_accounts::username_normalized.eq(&username),
                legacy_accounts::email.eq(none.clone()),
                legacy_accounts::email_normalized.eq(none.clone()),
                // Cleared when an account is bound; one bound by a node older than that kept it.
                legacy_accounts::exported_email_normalized.eq(none.clone()),
                legacy_accounts::password_hash.eq(none.clone()),
                legacy_accounts::hash_format.eq(none.clone()),
                legacy_accounts::name.eq(none.clone()),
            ),
            (
                legacy_accounts::imported_at.eq(TOMBSTONE_TIME),
                legacy_accounts::linked_at.eq(Some(TOMBSTONE_TIME)),
                legacy_accounts::updated_at.eq(TOMBSTONE_TIME),
            ),
        ))
        .execute(conn)?;
    }
    Ok(())
}

/// Every address the user had that idp still holds: the current one (as typed and normalised),
/// those its links were sent to (an old address of a change, its undo link), and its bound old
/// accounts' as the export spelled them (the linker mailed its link there, before the tombstones
/// forget them).
fn addresses(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    user: &UserRow,
) -> Result<BTreeSet<String>> {
    let mut addresses: BTreeSet<String> = one_time_links::table
        .filter(one_time_links::tenant_id.eq(tenant.id()))
        .filter(one_time_links::user_id.eq(&user.id))
        .select(one_time_links::email)
        .load::<Option<String>>(conn)?
        .into_iter()
        .flatten()
        .collect();
    let old: Vec<(Option<String>, Option<String>)> = legacy_accounts::table
        .filter(legacy_accounts::tenant_id.eq(tenant.id()))
        .filter(legacy_accounts::linked_user_id.eq(&user.id))
        .select((legacy_accounts::email, legacy_accounts::email_normalized))
        .load(conn)?;
    addresses.extend(
        old.into_iter()
            .flat_map(|(typed, normalized)| [typed, normalized])
            .flatten(),
    );
    addresses.extend(user.email.iter().cloned());
    let lowered: Vec<String> = addresses.iter().map(|a| lookup_key(a)).collect();
    addresses.extend(lowered);
    addresses.extend(user.email_normalized.iter().cloned());
    Ok(addresses)
}

diesel::define_sql_function! {
    /// SQL's `lower()` of a nullable column (ASCII letters on SQLite; the database's locale on
    /// PostgreSQL).
    #[sql_name = "lower"]
    fn lower_nullable(
        text: diesel::sql_types::Nullable<diesel::sql_types::Text>,
    ) -> diesel::sql_types::Nullable<diesel::sql_types::Text>;
}

/// Whether every other spelling of the lookup key `key` differs from it in ASCII case only, as
/// SQL's `lower()` folds it: an ASCII key with no punycode label (a stored address is
/// NFKC-folded already; a domain in punycode may be stored in Unicode).
fn ascii_case_only(key: &str) -> bool {
    key.is_ascii() && !key.split(['@', '.']).any(|label| label.starts_with("xn--"))
}

/// The links of `tenant` that name nobody (no user) to any of `keys` (lookup keys) in any
/// spelling: by the index on `lower(email)` when `lowered` (keys whose other spellings differ in
/// ASCII case only), else among all such links; each compared by its own key (PostgreSQL's
/// `lower()` may fold a letter, `İ`, that the key keeps). Their hashes.
fn unnamed_links_to(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    keys: &BTreeSet<String>,
    lowered: bool,
) -> Result<Vec<String>> {
    let mut query = one_time_links::table
        .filter(one_time_links::email.is_not_null())
        .filter(one_time_links::tenant_id.eq(tenant.id()))
        .filter(one_time_links::user_id.is_null())
        .select((one_time_links::token_hash, one_time_links::email))
        .into_boxed();
    if lowered {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        query = query.filter(lower_nullable(one_time_links::email).eq_any(keys));
    }
    Ok(query
        .load::<(String, Option<String>)>(conn)?
        .into_iter()
        .filter(|(_, to)| {
            to.as_deref()
                .is_some_and(|to| keys.contains(&lookup_key(to)))
        })
        .map(|(hash, _)| hash)
        .collect())
}

/// The addresses of `addresses` that someone else in the tenant still holds: another user's, or
/// an old account's not bound to `user` (a family's shared address, whose old accounts the others
/// bound or have still to bind; the user's own earlier address, taken since by another).
fn held_by_others(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    user: &UserRow,
    addresses: &BTreeSet<String>,
) -> Result<BTreeSet<String>> {
    let mut held: BTreeSet<String> = user_rows::table
        .filter(user_rows::tenant_id.eq(tenant.id()))
        .filter(user_rows::id.ne(&user.id))
        .filter(user_rows::email_normalized.eq_any(addresses))
        .select(user_rows::email_normalized)
        .load::<Option<String>>(conn)?
        .into_iter()
        .flatten()
        .collect();
    let not_the_users = legacy_accounts::linked_user_id
        .is_null()
        .or(legacy_accounts::linked_user_id.ne(&user.id));
    held.extend(
        legacy_accounts::table
            .filter(legacy_accounts::tenant_id.eq(tenant.id()))
            .filter(not_the_users)
            .filter(legacy_accounts::email_normalized.eq_any(addresses))
            .select(legacy_accounts::email_normalized)
            .load::<Option<String>>(conn)?
            .into_iter()
            .flatten(),
    );
    Ok(held)
}

/// Deletes what is keyed by the user or its addresses: links, mail, throttle counters, mail
/// limit counts. An address someone else still holds ([`held_by_others`]) keeps what is theirs:
/// their links (a deletion's or a change's undo link, their only way back), their mail and its
/// counts; of such an address only the user's own links and mail go (mail written before mail
/// named its account stays there until the clean-up's week is over).
fn forget_addresses(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    user: &UserRow,
    addresses: &BTreeSet<String>,
) -> Result<()> {
    let held = held_by_others(conn, tenant, user, addresses)?;
    let addresses: BTreeSet<String> = addresses
        .iter()
        .filter(|address| !held.contains(&lookup_key(address)))
        .cloned()
        .collect();
    // Their lookup keys: a link or a mail written to another spelling of one of them (a
    // registration begun as `Erkki@Testi.FI`) goes too.
    let keys: BTreeSet<String> = addresses.iter().map(|a| lookup_key(a)).collect();
    let bound: Vec<String> = legacy_accounts::table
        .filter(legacy_accounts::tenant_id.eq(tenant.id()))
        .filter(legacy_accounts::linked_user_id.eq(&user.id))
        .select(legacy_accounts::id)
        .load(conn)?;
    let the_users = one_time_links::user_id
        .eq(&user.id)
        .or(one_time_links::user_id
            .is_null()
            .and(one_time_links::legacy_account_id.eq_any(&bound)));
    // An ASCII key's other spellings differ in case only (addresses are stored NFKC-folded):
    // SQL's lower() finds them by index. Any other key (a non-ASCII local part, a domain in
    // punycode, which a row may hold in Unicode) is compared in Rust, on the rows naming nobody.
    let (plain, other): (BTreeSet<String>, BTreeSet<String>) =
        keys.iter().cloned().partition(|key| ascii_case_only(key));
    let mut spelt_otherwise = unnamed_links_to(conn, tenant, &plain, true)?;
    if !other.is_empty() {
        spelt_otherwise.extend(unnamed_links_to(conn, tenant, &other, false)?);
    }
    diesel::delete(
        one_time_links::table
            .filter(one_time_links::tenant_id.eq(tenant.id()))
            .filter(
                the_users
                    .or(one_time_links::email.eq_any(&addresses))
                    .or(one_time_links::token_hash.eq_any(&spelt_otherwise)),
            ),
    )
    .execute(conn)?;
    // The account's own mail wherever it went, and the linker's that lists its old accounts;
    // any other only at an address nobody else holds.
    super::outbox::forget_mail_naming(conn, tenant, &bound)?;
    if !other.is_empty() {
        super::outbox::forget_unnamed_mail(conn, tenant, &other, (None, false))?;
    }
    super::outbox::forget_unnamed_mail(conn, tenant, &plain, (None, true))?;
    diesel::delete(
        mail_outbox::table
            .filter(mail_outbox::tenant_id.eq(tenant.id()))
            .filter(
                mail_outbox::user_id
                    .eq(&user.id)
                    .or(mail_outbox::to_address.eq_any(&addresses)),
            ),
    )
    .execute(conn)?;
    let mut throttled = vec![
        ThrottleKey::User(user.id.clone()).column(),
        ThrottleKey::Checks(user.id.clone()).column(),
        ThrottleKey::SecondFactor(user.id.clone()).column(),
    ];
    throttled.extend(
        addresses
            .iter()
            .chain(&keys)
            .chain(user.username_normalized.iter())
            .map(|name| ThrottleKey::Unknown(name.clone()).column()),
    );
    diesel::delete(
        login_throttle::table
            .filter(login_throttle::tenant_id.eq(tenant.id()))
            .filter(login_throttle::throttle_key.eq_any(throttled)),
    )
    .execute(conn)?;
    let limits: Vec<String> = addresses
        .iter()
        .chain(&keys)
        .flat_map(|address| Budget::ALL.map(|budget| budget.key(address)))
        .collect();
    diesel::delete(
        mail_limit_events::table
            .filter(mail_limit_events::tenant_id.eq(tenant.id()))
            .filter(mail_limit_events::limit_key.eq_any(limits)),
    )
    .execute(conn)?;
    Ok(())
}
