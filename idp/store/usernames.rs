//! The one-time re-keys of stored usernames (migration `2026-12-15-000001_usernames_folded`)
//! and addresses (`2026-12-18-000001_addresses_ascii_domains`, [`key_domains_in_ascii`]).
//!
//! A username's key (`username_normalized`, unique per tenant) was its lowercased form only, while
//! every identifier a resident types is now read through [`lookup_key`] (NFKC as well): an old
//! system that exported "Pääkäyttäjä" decomposed (NFD) would otherwise never match the composed
//! form a browser sends. [`fold_all`] gives every stored key its folded form, in the migration's
//! transaction, a page of rows at a time. A key whose folded form another row of the tenant
//! already has (an old system that held both spellings as two accounts) stays as it was: the
//! folded spelling logs in to the other one, as it always did, and the operator is told which
//! rows they are (by id) to decide with `idp legacy report` which one the resident means.

use diesel::prelude::*;

use super::schema::{legacy_accounts, users};
use super::{DbConnection, Result, StoreError};
use crate::domain::lookup_key;

/// How many rows one page of the re-key reads: its memory stays small at any table size.
const PAGE: i64 = 5_000;

/// What [`fold_all`] did: the keys it changed, and the rows it left because another row of their
/// tenant has the folded key (table and id).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Folded {
    /// Keys changed.
    pub changed: usize,
    /// Rows left as they were: `("legacy_accounts" | "users", id)`.
    pub left: Vec<(&'static str, String)>,
}

/// Folds the keys of each column of one table, a page at a time in the order of the ids; the
/// tables have `id` and `tenant_id`; only the keys `$wants`. A key is left as it was when `$unique` and another row of
/// its tenant has the folded key, or when `$shadows` says it would take an old account's logins.
macro_rules! fold {
    ($conn:ident, $table:ident, $name:literal, $folded:ident, $unique:expr, $shadows:expr, $wants:expr; $($column:ident),+) => {$({
        let mut after = String::new();
        loop {
            let page: Vec<(String, String, Option<String>)> = $table::table
                .filter($table::id.gt(&after))
                .order($table::id.asc())
                .limit(PAGE)
                .select(($table::id, $table::tenant_id, $table::$column.nullable()))
                .load($conn)?;
            let Some((last, _, _)) = page.last() else {
                break;
            };
            after = last.clone();
            for (id, tenant, key) in page {
                let Some(key) = key.filter(|key| $wants(key)) else {
                    continue;
                };
                let folded_key = lookup_key(&key);
                if folded_key == key {
                    continue;
                }
                let taken = $unique
                    && $table::table
                        .filter($table::tenant_id.eq(&tenant))
                        .filter($table::$column.eq(&folded_key))
                        .count()
                        .get_result::<i64>($conn)?
                        > 0;
                if taken || $shadows($conn, &tenant, &folded_key)? {
                    $folded.left.push(($name, id));
                    continue;
                }
                diesel::update($table::table.filter($table::id.eq(&id)))
                    .set($table::$column.eq(&folded_key))
                    .execute($conn)?;
                $folded.changed += 1;
            }
        }
    })+};
}

/// Folds every stored username key of both tables (module comment). A user's key is left as well
/// when its folded form is an unbound old account's of the tenant: a login looks for users first,
/// and the folded user would take that old account's logins (its first login by username) for its
/// own. A user made from an old account carries the account's key; the account bound is the
/// user's own, not another's.
pub fn fold_all(conn: &mut DbConnection) -> Result<Folded> {
    let mut folded = Folded::default();
    fold_usernames(conn, &mut folded, any)?;
    Ok(folded)
}

/// Folds the username keys of both tables that `wants` into `folded` ([`fold_all`]).
fn fold_usernames(
    conn: &mut DbConnection,
    folded: &mut Folded,
    wants: fn(&str) -> bool,
) -> Result<()> {
    let no_other_table = |_: &mut DbConnection, _: &str, _: &str| Ok::<_, StoreError>(false);
    fold!(conn, legacy_accounts, "legacy_accounts", folded, true, no_other_table, wants; username_normalized);
    fold!(conn, users, "users", folded, true, shadows_an_old_account, wants; username_normalized);
    Ok(())
}

/// Every key.
fn any(_: &str) -> bool {
    true
}

/// A key with a domain after its last `@` that is not all ASCII.
fn unicode_domain(key: &str) -> bool {
    key.rsplit_once('@')
        .is_some_and(|(_, domain)| !domain.is_ascii())
}

/// Re-keys every stored address and username of both tables by today's [`lookup_key`], which
/// writes an internationalised domain in its ASCII form (migration
/// `2026-12-18-000001_addresses_ascii_domains`): an address stored as `matti@hämeenlinna.fi`
/// is found again whether the browser sends it so or as `matti@xn--hmeenlinna-q5a.fi`. Only the
/// keys with such a domain are read again (a key [`fold_all`] left stays left). The usernames as
/// [`fold_all`]; a user's address is left as it was only when another user of the
/// tenant has its new key (one person with two accounts: support settles which one they mean).
/// A user whose address an unbound old account has too is re-keyed all the same: a login by the
/// address finds the user first, as for any old account at a user's address, and the account
/// page offers to link it; left, the user's own login by that address would bind the old account
/// as a second user. Old accounts' addresses are not unique (a family's accounts share one): each
/// is re-keyed.
pub fn key_domains_in_ascii(conn: &mut DbConnection) -> Result<Folded> {
    let mut folded = Folded::default();
    fold_usernames(conn, &mut folded, unicode_domain)?;
    let no_other_table = |_: &mut DbConnection, _: &str, _: &str| Ok::<_, StoreError>(false);
    let ascii = unicode_domain;
    fold!(conn, legacy_accounts, "legacy_accounts", folded, false, no_other_table, ascii;
        email_normalized, exported_email_normalized);
    fold!(conn, users, "users", folded, true, no_other_table, ascii; email_normalized);
    Ok(folded)
}

/// Whether `key` is the key of an old account of `tenant` that is not bound.
fn shadows_an_old_account(conn: &mut DbConnection, tenant: &str, key: &str) -> Result<bool> {
    let unbound: i64 = legacy_accounts::table
        .filter(legacy_accounts::tenant_id.eq(tenant))
        .filter(legacy_accounts::username_normalized.eq(key))
        .filter(legacy_accounts::linked_user_id.is_null())
        .count()
        .get_result(conn)?;
    Ok(unbound > 0)
}
