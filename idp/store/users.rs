//! The `users` table: residents and authority users.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::query_builder::{AsChangeset, QueryFragment};

use super::schema::users;
use super::{Backend, DbConnection, Result, Tenant};

/// A user as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct UserRow {
    /// Internal id.
    pub id: String,
    /// The tenant.
    pub tenant_id: String,
    /// The OIDC subject.
    pub subject: String,
    /// The address as entered.
    pub email: Option<String>,
    /// Trimmed and lowercased address, unique per tenant.
    pub email_normalized: Option<String>,
    /// Whether the address was proven.
    pub email_verified: bool,
    /// An authority user's login name.
    pub username: Option<String>,
    /// Lowercased login name, unique per tenant.
    pub username_normalized: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// Preferred language.
    pub locale: Option<String>,
    /// argon2id PHC string.
    pub password_hash: Option<String>,
    /// When the password was last set.
    pub password_changed_at: Option<NaiveDateTime>,
    /// Logs in with a username.
    pub is_authority: bool,
    /// Cannot log in.
    pub disabled: bool,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Last changed.
    pub updated_at: NaiveDateTime,
}

/// A user to insert.
#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    /// Internal id.
    pub id: &'a str,
    /// The tenant.
    pub tenant_id: &'a str,
    /// The OIDC subject.
    pub subject: &'a str,
    /// The address as entered.
    pub email: Option<&'a str>,
    /// Normalised address.
    pub email_normalized: Option<&'a str>,
    /// Whether the address was proven.
    pub email_verified: bool,
    /// An authority user's login name.
    pub username: Option<&'a str>,
    /// Lowercased login name.
    pub username_normalized: Option<&'a str>,
    /// Logs in with the username.
    pub is_authority: bool,
    /// Display name.
    pub name: Option<&'a str>,
    /// argon2id PHC string.
    pub password_hash: Option<&'a str>,
    /// When the password was set.
    pub password_changed_at: Option<NaiveDateTime>,
    /// Created (and last changed).
    pub created_at: NaiveDateTime,
    /// Last changed.
    pub updated_at: NaiveDateTime,
}

/// Inserts a user; [`super::StoreError::UniqueViolation`] when the subject or address is taken.
pub fn insert(conn: &mut DbConnection, user: &NewUser<'_>) -> Result<()> {
    super::rows::insert(conn, users::table, user)
}

/// The user of `tenant` with this normalised address.
pub fn find_by_email(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    email_normalized: &str,
) -> Result<Option<UserRow>> {
    Ok(users::table
        .filter(users::tenant_id.eq(tenant.id()))
        .filter(users::email_normalized.eq(email_normalized))
        .select(UserRow::as_select())
        .get_result(conn)
        .optional()?)
}

/// Every user of `tenant`, oldest first.
pub fn list(conn: &mut DbConnection, tenant: Tenant<'_>) -> Result<Vec<UserRow>> {
    Ok(users::table
        .filter(users::tenant_id.eq(tenant.id()))
        .order((users::created_at.asc(), users::id.asc()))
        .select(UserRow::as_select())
        .load(conn)?)
}

/// A user by internal id.
pub fn find(conn: &mut DbConnection, tenant: Tenant<'_>, id: &str) -> Result<Option<UserRow>> {
    Ok(users::table
        .find(id)
        .filter(users::tenant_id.eq(tenant.id()))
        .select(UserRow::as_select())
        .get_result(conn)
        .optional()?)
}

/// The user `id` of `tenant` read afresh and held until the caller's write transaction ends: on
/// PostgreSQL with `SELECT … FOR UPDATE`, so that a transaction that holds it already (a recovery,
/// `flows::oidc::logout::end_everything`, or a login about to start a session) ends first and
/// this one then reads what it committed; on SQLite a plain read, as its writers take turns
/// (`store/transaction.rs`) and a write transaction already excludes every other.
pub fn lock(conn: &mut DbConnection, tenant: Tenant<'_>, id: &str) -> Result<Option<UserRow>> {
    let DbConnection::Postgres(pg) = conn else {
        return find(conn, tenant, id);
    };
    Ok(users::table
        .find(id)
        .filter(users::tenant_id.eq(tenant.id()))
        .select(UserRow::as_select())
        .for_update()
        .get_result(pg)
        .optional()?)
}

/// The user of `tenant` with this subject (the `sub` its e-services know), an erased one's
/// tombstone too.
pub fn find_by_subject(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    subject: &str,
) -> Result<Option<UserRow>> {
    Ok(users::table
        .filter(users::tenant_id.eq(tenant.id()))
        .filter(users::subject.eq(subject))
        .select(UserRow::as_select())
        .get_result(conn)
        .optional()?)
}

/// The user of `tenant` with this lowercased login name (authority users).
pub fn find_by_username(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    username_normalized: &str,
) -> Result<Option<UserRow>> {
    Ok(users::table
        .filter(users::tenant_id.eq(tenant.id()))
        .filter(users::username_normalized.eq(username_normalized))
        .select(UserRow::as_select())
        .get_result(conn)
        .optional()?)
}

/// Sets a user's password hash.
pub fn set_password(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    id: &str,
    password_hash: &str,
    now: NaiveDateTime,
) -> Result<()> {
    set_hash(conn, tenant, id, Some(password_hash), now)
}

/// Forgets a user's password: the account has none until its owner sets one through "forgot
/// password" (support's `idp users end-sessions --forget-password`).
pub fn forget_password(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    id: &str,
    now: NaiveDateTime,
) -> Result<()> {
    set_hash(conn, tenant, id, None, now)
}

fn set_hash(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    id: &str,
    password_hash: Option<&str>,
    now: NaiveDateTime,
) -> Result<()> {
    change(
        conn,
        tenant,
        id,
        (
            users::password_hash.eq(password_hash),
            users::password_changed_at.eq(now),
            users::updated_at.eq(now),
        ),
    )
}

/// Sets a user's display name.
pub fn set_name(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    id: &str,
    name: Option<&str>,
    now: NaiveDateTime,
) -> Result<()> {
    change(
        conn,
        tenant,
        id,
        (users::name.eq(name), users::updated_at.eq(now)),
    )
}

/// Sets the language a user last logged in with (a BCP 47 tag of the tenant's languages): what
/// the notices to the account's owner are written in, and the `locale` claim. Not a change of
/// the user's information (`updated_at` stays).
pub fn set_locale(conn: &mut DbConnection, tenant: Tenant<'_>, id: &str, tag: &str) -> Result<()> {
    change(conn, tenant, id, users::locale.eq(tag))
}

/// Sets a user's (verified) address.
pub fn set_email(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    id: &str,
    email: &str,
    email_normalized: &str,
    now: NaiveDateTime,
) -> Result<()> {
    change(
        conn,
        tenant,
        id,
        (
            users::email.eq(email),
            users::email_normalized.eq(email_normalized),
            users::email_verified.eq(true),
            users::updated_at.eq(now),
        ),
    )
}

/// Marks the address of the user `id` of `tenant` verified while it is still `email` (a link
/// mailed to it was used; an address changed since stays as it is).
pub fn verify_email(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    id: &str,
    email: &str,
    now: NaiveDateTime,
) -> Result<()> {
    diesel::update(
        users::table
            .find(id)
            .filter(users::tenant_id.eq(tenant.id()))
            .filter(users::email.eq(email))
            .filter(users::email_verified.eq(false)),
    )
    .set((users::email_verified.eq(true), users::updated_at.eq(now)))
    .execute(conn)?;
    Ok(())
}

/// Disables or enables the user `id` of `tenant` (a deletion request, and its undo).
pub fn set_disabled(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    id: &str,
    disabled: bool,
    now: NaiveDateTime,
) -> Result<()> {
    change(
        conn,
        tenant,
        id,
        (users::disabled.eq(disabled), users::updated_at.eq(now)),
    )
}

/// Turns the user `id` of `tenant` into a tombstone: every personal column cleared, disabled,
/// its times set to `at` (the erasure's `TOMBSTONE_TIME`); the id and the subject stay, so that
/// the subject is never issued again.
pub fn tombstone(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    id: &str,
    at: NaiveDateTime,
) -> Result<()> {
    let none = None::<String>;
    change(
        conn,
        tenant,
        id,
        (
            (
                users::email.eq(none.clone()),
                users::email_normalized.eq(none.clone()),
                users::email_verified.eq(false),
                users::username.eq(none.clone()),
                users::username_normalized.eq(none.clone()),
                users::name.eq(none.clone()),
                users::locale.eq(none.clone()),
            ),
            (
                users::password_hash.eq(none),
                users::password_changed_at.eq(None::<NaiveDateTime>),
                users::is_authority.eq(false),
                users::disabled.eq(true),
                users::created_at.eq(at),
                users::updated_at.eq(at),
            ),
        ),
    )
}

/// Makes `changes` to the user `id` of `tenant`.
fn change<C>(conn: &mut DbConnection, tenant: Tenant<'_>, id: &str, changes: C) -> Result<()>
where
    C: AsChangeset<Target = users::table>,
    C::Changeset: QueryFragment<Backend>,
{
    diesel::update(
        users::table
            .find(id)
            .filter(users::tenant_id.eq(tenant.id())),
    )
    .set(changes)
    .execute(conn)?;
    Ok(())
}
