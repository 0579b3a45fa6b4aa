//! Finding an account by the identifier a resident types: the login, the linker's routing and the
//! account checks all read an identifier this one way; an identifier that names no account is
//! throttled under the same reading ([`unknown_key`], [`throttle_key`]).

use chrono::NaiveDateTime;

use crate::domain::{Email, lookup_key};
use crate::store::legacy::LegacyRow;
use crate::store::throttle::ThrottleKey;
use crate::store::users::{self, UserRow};
use crate::store::{DbConnection, StoreError, Tenant, deletions};

/// Which account, for support and the account page: by internal id, or an address, or an
/// authority user's username, or its subject.
#[derive(Debug, Clone, Copy)]
pub enum Whose<'a> {
    /// The user with this internal id.
    Id(&'a str),
    /// The user with this address.
    Email(&'a Email),
    /// The user with this username (any case, spaces around it ignored).
    Username(&'a str),
    /// The user with this subject.
    Subject(&'a str),
}

/// The user `whose` names, disabled or not.
pub fn find_user(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    whose: Whose<'_>,
) -> Result<Option<UserRow>, StoreError> {
    match whose {
        Whose::Id(id) => users::find(conn, tenant, id),
        Whose::Email(email) => users::find_by_email(conn, tenant, email.normalized()),
        Whose::Username(name) => users::find_by_username(conn, tenant, &lookup_key(name)),
        Whose::Subject(subject) => users::find_by_subject(conn, tenant, subject),
    }
}

/// The account an identifier names: a resident by email, or an authority user by username; never
/// a disabled one.
pub fn find_account(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    identifier: &str,
) -> Result<Option<UserRow>, StoreError> {
    Ok(any_account(conn, tenant, identifier)?.filter(|u| !u.disabled))
}

/// The throttle counter of an identifier that names no account, read as [`find_account`] reads
/// it: an address by its normalised form (NFKC, lowercased), anything else trimmed and lowercased.
/// So every written form of one address (full-width letters, ligatures, case) counts on one
/// counter, as the forms of an address with an account count on its user's: the answers never
/// tell whether the address has one.
pub fn unknown_key(identifier: &str) -> ThrottleKey {
    let identifier = identifier.trim();
    ThrottleKey::Unknown(match Email::parse(identifier) {
        Ok(email) => email.normalized().to_string(),
        Err(_) => lookup_key(identifier),
    })
}

/// The throttle counter a password check of `identifier` counts on: the old account's it proves,
/// else the account's it names (one being deleted too), else [`unknown_key`]. Every check of an
/// identifier — a login, a claim of an old account — counts on the counter a login would, or
/// the gap between them (one blocked, the other not) would tell whether it names an account.
pub fn throttle_key(
    account: Option<&UserRow>,
    old: Option<&LegacyRow>,
    identifier: &str,
) -> ThrottleKey {
    match (old, account) {
        (Some(old), _) => ThrottleKey::Legacy(old.id.clone()),
        (None, Some(account)) => ThrottleKey::User(account.id.clone()),
        (None, None) => unknown_key(identifier),
    }
}

/// The account an identifier names, disabled or not: an address names its resident before any
/// username, and a username only an authority user.
pub fn any_account(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    identifier: &str,
) -> Result<Option<UserRow>, StoreError> {
    let identifier = identifier.trim();
    let by_email = match Email::parse(identifier) {
        Ok(email) => users::find_by_email(conn, tenant, email.normalized())?,
        Err(_) => None,
    };
    Ok(match by_email {
        Some(user) => Some(user),
        None => users::find_by_username(conn, tenant, &lookup_key(identifier))?
            .filter(|u| u.is_authority),
    })
}

/// The account an identifier names when it is being deleted (disabled, its deletion pending),
/// with the end of its grace period: its login is refused with a page that says so.
pub fn find_deleting(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    identifier: &str,
) -> Result<Option<(UserRow, NaiveDateTime)>, StoreError> {
    let Some(user) = any_account(conn, tenant, identifier)?.filter(|u| u.disabled) else {
        return Ok(None);
    };
    let pending = deletions::find(conn, tenant, &user.id)?.filter(|d| d.erased_at.is_none());
    Ok(pending.map(|d| (user, d.erase_at)))
}
