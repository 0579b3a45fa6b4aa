//! The one-time re-key of stored usernames (migration `2026-12-15-000001_usernames_folded`).
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

/// Folds the keys of one table, a page at a time in the order of the ids; both tables have `id`,
/// `tenant_id` and `username_normalized` (nullable in `users`, whose residents have none).
macro_rules! fold {
    ($conn:ident, $table:ident, $name:literal, $folded:ident, $shadows:expr) => {{
        let mut after = String::new();
        loop {
            let page: Vec<(String, String, Option<String>)> = $table::table
                .filter($table::id.gt(&after))
                .order($table::id.asc())
                .limit(PAGE)
                .select((
                    $table::id,
                    $table::tenant_id,
                    $table::username_normalized.nullable(),
                ))
                .load($conn)?;
            let Some((last, _, _)) = page.last() else {
                break;
            };
            after = last.clone();
            for (id, tenant, key) in page {
                let Some(key) = key else { continue };
                let folded_key = lookup_key(&key);
                if folded_key == key {
                    continue;
                }
                let taken: i64 = $table::table
                    .filter($table::tenant_id.eq(&tenant))
                    .filter($table::username_normalized.eq(&folded_key))
                    .count()
                    .get_result($conn)?;
                if taken > 0 || $shadows($conn, &tenant, &folded_key)? {
                    $folded.left.push(($name, id));
                    continue;
                }
                diesel::update($table::table.filter($table::id.eq(&id)))
                    .set($table::username_normalized.eq(&folded_key))
                    .execute($conn)?;
                $folded.changed += 1;
            }
        }
    }};
}

/// Folds every stored username key of both tables (module comment). A user's key is left as well
/// when its folded form is an unbound old account's of the tenant: a login looks for users first,
/// and the folded user would take that old account's logins (its first login by username) for its
/// own. A user made from an old account carries the account's key; the account bound is the
/// user's own, not another's.
pub fn fold_all(conn: &mut DbConnection) -> Result<Folded> {
    let mut folded = Folded::default();
    let no_other_table = |_: &mut DbConnection, _: &str, _: &str| Ok::<_, StoreError>(false);
    fold!(
        conn,
        legacy_accounts,
        "legacy_accounts",
        folded,
        no_other_table
    );
    fold!(conn, users, "users", folded, shadows_an_old_account);
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
