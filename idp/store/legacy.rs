//! The `legacy_accounts` table: the accounts of a city's old login system, each bound to a user
//! by the linker (`idp/flows/linker/`) on its first login. What the import writes is in
//! [`super::legacy_import`]. A linked account is never changed again ([`change_unlinked`]), only
//! unbound by the undo of the change of address that bound it ([`unlink`]).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::query_builder::{AsChangeset, QueryFragment};

use super::schema::legacy_accounts;
use super::{Backend, DbConnection, Result, Tenant};
use crate::config::SaltedShaLayout;
use crate::crypto::legacy;

/// A legacy account as stored.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = legacy_accounts)]
pub struct LegacyRow {
    /// Internal id.
    pub id: String,
    /// The tenant.
    pub tenant_id: String,
    /// The old login name, as exported.
    pub username: String,
    /// Lowercased login name, unique per tenant.
    pub username_normalized: String,
    /// What the e-services know the account by: the `sub` once linked.
    pub subject: String,
    /// The address in use, as exported or as support set it (`idp legacy set-email`).
    pub email: Option<String>,
    /// Trimmed and lowercased address (not unique: families share addresses).
    pub email_normalized: Option<String>,
    /// The old system's password hash.
    pub password_hash: Option<String>,
    /// The hash's format ([`crate::crypto::legacy::LegacyFormat::name`]); `None` when unusable.
    pub hash_format: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// An authority user, who keeps logging in with the old username.
    pub is_authority: bool,
    /// The user it is bound to.
    pub linked_user_id: Option<String>,
    /// When it was bound.
    pub linked_at: Option<NaiveDateTime>,
    /// First imported.
    pub imported_at: NaiveDateTime,
    /// Last changed by an import or by support.
    pub updated_at: NaiveDateTime,
    /// The address (normalised) the export gave at the last import that wrote the account;
    /// `None` when it gave none, and once the account is linked. Where it differs from
    /// `email_normalized`, support set the address, and a re-import keeps support's while the
    /// export still gives this one.
    pub exported_email_normalized: Option<String>,
}

impl LegacyRow {
    /// Whether support set the address (`idp legacy set-email`) after the import last wrote the
    /// account: it is not the export's.
    pub fn has_support_address(&self) -> bool {
        self.email_normalized != self.exported_email_normalized
    }
}

impl LegacyRow {
    /// Whether the old password can prove this account: it was imported with a hash of a known
    /// format, and that hash is still of that format under today's rules ([`legacy::usable`],
    /// with `salted`, the tenant's salted SHA layout). An account that an older version imported
    /// with a hash those rules now refuse (a malformed bcrypt cost, a PBKDF2 digest too short) is
    /// not offered a password that can never match: it gets the mailed link, as a re-import would
    /// give it.
    pub fn has_usable_hash(&self, salted: Option<&SaltedShaLayout>) -> bool {
        match (&self.password_hash, &self.hash_format) {
            (Some(hash), Some(format)) => {
                legacy::usable(hash, salted).is_some_and(|usable| usable.name() == format)
            }
            _ => false,
        }
    }
}

/// A legacy account by internal id.
pub fn find(conn: &mut DbConnection, tenant: Tenant<'_>, id: &str) -> Result<Option<LegacyRow>> {
    Ok(legacy_accounts::table
        .find(id)
        .filter(legacy_accounts::tenant_id.eq(tenant.id()))
        .select(LegacyRow::as_select())
        .get_result(conn)
        .optional()?)
}

/// A legacy account of `tenant` by its lowercased username.
pub fn find_by_username(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    username_normalized: &str,
) -> Result<Option<LegacyRow>> {
    Ok(legacy_accounts::table
        .filter(legacy_accounts::tenant_id.eq(tenant.id()))
        .filter(legacy_accounts::username_normalized.eq(username_normalized))
        .select(LegacyRow::as_select())
        .get_result(conn)
        .optional()?)
}

/// The most old accounts of one address that the linker offers: a family's few. An export may
/// give many accounts one placeholder address (`noreply@…`); those are support's to bind, and no
/// page or mail lists hundreds of them to whoever types the address.
pub const AT_ONE_ADDRESS: usize = 20;

/// The unlinked legacy accounts of `tenant` with this normalised address, by username: at most
/// [`AT_ONE_ADDRESS`] and one more (more than [`AT_ONE_ADDRESS`]: too many, [`crowded`]).
pub fn unlinked_by_email(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    email_normalized: &str,
) -> Result<Vec<LegacyRow>> {
    let most = i64::try_from(AT_ONE_ADDRESS + 1).unwrap_or(i64::MAX);
    Ok(legacy_accounts::table
        .filter(legacy_accounts::tenant_id.eq(tenant.id()))
        .filter(legacy_accounts::email_normalized.eq(email_normalized))
        .filter(legacy_accounts::linked_user_id.is_null())
        .order(legacy_accounts::username_normalized.asc())
        .limit(most)
        .select(LegacyRow::as_select())
        .load(conn)?)
}

/// Whether `accounts`, of one address, are more than the linker offers ([`AT_ONE_ADDRESS`]).
pub fn crowded(accounts: &[LegacyRow]) -> bool {
    accounts.len() > AT_ONE_ADDRESS
}

/// The legacy accounts bound to a user, the first bound first.
pub fn linked_to(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    user_id: &str,
) -> Result<Vec<LegacyRow>> {
    Ok(legacy_accounts::table
        .filter(legacy_accounts::linked_user_id.eq(user_id))
        .filter(legacy_accounts::tenant_id.eq(tenant.id()))
        .order((legacy_accounts::linked_at.asc(), legacy_accounts::id.asc()))
        .select(LegacyRow::as_select())
        .load(conn)?)
}

/// What proved a binding, which [`link`] finds unchanged or does not bind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof<'a> {
    /// The old hash an old password was checked against: a re-import may replace it meanwhile.
    Hash(&'a str),
    /// The address a mailed link (or a change of address) proved: support's `legacy set-email`
    /// or a re-import may move the account to another address meanwhile. `None` proves nothing.
    Address(Option<&'a str>),
}

/// Binds a legacy account to a user; false when it was bound already (by a concurrent login),
/// or when what proved it (`proof`) is no longer the account's: its hash (a re-import replaced
/// it meanwhile), its address (support or a re-import moved it). One conditional write: on either
/// backend it sees the row as it is (PostgreSQL waits for a writer of the row and checks the
/// row it committed). The export's address is forgotten: no import changes a
/// linked account. So is the old hash (its format stays, for the report): a bound account is
/// never proven by its old password again, and under keep-password the old hash is a weak copy of
/// the resident's current password (md5-crypt, salted SHA-1) that a stolen backup would give away
/// cheaply; the argon2id hash of the user is the one that counts.
pub fn link(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    id: &str,
    user_id: &str,
    now: NaiveDateTime,
    proof: Proof<'_>,
) -> Result<bool> {
    let changes = (
        legacy_accounts::linked_user_id.eq(user_id),
        legacy_accounts::linked_at.eq(now),
        legacy_accounts::exported_email_normalized.eq(None::<String>),
        legacy_accounts::password_hash.eq(None::<String>),
    );
    let unlinked = legacy_accounts::table
        .find(id)
        .filter(legacy_accounts::tenant_id.eq(tenant.id()))
        .filter(legacy_accounts::linked_user_id.is_null());
    let changed = match proof {
        Proof::Hash(hash) => {
            diesel::update(unlinked.filter(legacy_accounts::password_hash.eq(hash)))
                .set(changes)
                .execute(conn)?
        }
        Proof::Address(Some(address)) => {
            diesel::update(unlinked.filter(legacy_accounts::email_normalized.eq(address)))
                .set(changes)
                .execute(conn)?
        }
        Proof::Address(None) => 0,
    };
    Ok(changed == 1)
}

/// Unbinds the legacy account `id` of `tenant` from the user `user_id` (the undo of the change of
/// address that bound it): unlinked again, and the export's address and the old hash as they were
/// before the binding (`exported`: `exported_email_normalized` and `password_hash`, which [`link`]
/// forgot), so that the linker and a re-import treat it as before. False when it is not bound to
/// that user.
pub fn unlink(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    id: &str,
    user_id: &str,
    exported: (Option<&str>, Option<&str>),
) -> Result<bool> {
    let (exported_email_normalized, password_hash) = exported;
    let changed = diesel::update(
        legacy_accounts::table
            .find(id)
            .filter(legacy_accounts::tenant_id.eq(tenant.id()))
            .filter(legacy_accounts::linked_user_id.eq(user_id)),
    )
    .set((
        legacy_accounts::linked_user_id.eq(None::<String>),
        legacy_accounts::linked_at.eq(None::<NaiveDateTime>),
        legacy_accounts::exported_email_normalized.eq(exported_email_normalized),
        legacy_accounts::password_hash.eq(password_hash),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Attaches an address to an unlinked legacy account (support, `idp legacy set-email`); false
/// when the account is linked already. The export's address stays as it was
/// (`exported_email_normalized`), so that a re-import can tell support's apart.
pub fn set_email(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    id: &str,
    email: &str,
    email_normalized: &str,
    now: NaiveDateTime,
) -> Result<bool> {
    change_unlinked(
        conn,
        tenant,
        id,
        (
            legacy_accounts::email.eq(email),
            legacy_accounts::email_normalized.eq(email_normalized),
            legacy_accounts::updated_at.eq(now),
        ),
    )
}

/// Makes `changes` to the account `id` of `tenant` unless it is linked; false when it is (a
/// login bound it meanwhile).
pub fn change_unlinked<C>(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    id: &str,
    changes: C,
) -> Result<bool>
where
    C: AsChangeset<Target = legacy_accounts::table>,
    C::Changeset: QueryFragment<Backend>,
{
    let changed = diesel::update(
        legacy_accounts::table
            .find(id)
            .filter(legacy_accounts::tenant_id.eq(tenant.id()))
            .filter(legacy_accounts::linked_user_id.is_null()),
    )
    .set(changes)
    .execute(conn)?;
    Ok(changed == 1)
}
