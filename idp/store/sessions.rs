//! The `sso_sessions` table: who is logged in on which browser.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{sso_sessions, users};
use super::users::UserRow;
use super::{DbConnection, Result, Tenant};

/// A session as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sso_sessions)]
pub struct SessionRow {
    /// Public id, the `sid` claim.
    pub id: String,
    /// SHA-256 of the cookie's value.
    pub token_hash: String,
    /// The tenant.
    pub tenant_id: String,
    /// The user.
    pub user_id: String,
    /// Persistent cookie ("remember me").
    pub remember: bool,
    /// When the user last proved a password.
    pub auth_time: NaiveDateTime,
    /// How (`pwd`).
    pub amr: String,
    /// The assurance class.
    pub acr: Option<String>,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Last used.
    pub last_seen_at: NaiveDateTime,
    /// Ends then.
    pub expires_at: NaiveDateTime,
    /// Ended by logout.
    pub ended_at: Option<NaiveDateTime>,
    /// The browser's User-Agent at the login (capped, without control characters).
    pub user_agent: Option<String>,
    /// The coarse location the login came from (city and country), when the tenant shows them.
    pub location: Option<String>,
}

/// Stores a session.
pub fn insert(conn: &mut DbConnection, session: &SessionRow) -> Result<()> {
    super::rows::insert(conn, sso_sessions::table, session)
}

/// The live session of `tenant` whose cookie hashes to `token_hash`.
pub fn find_live(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    token_hash: &str,
    now: NaiveDateTime,
) -> Result<Option<SessionRow>> {
    Ok(live(tenant, now)
        .filter(sso_sessions::token_hash.eq(token_hash))
        .select(SessionRow::as_select())
        .get_result(conn)
        .optional()?)
}

/// The live session `id` of `tenant` when it is the user `user_id`'s: not ended, not expired.
pub fn live_of_user(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    id: &str,
    user_id: &str,
    now: NaiveDateTime,
) -> Result<Option<SessionRow>> {
    Ok(live(tenant, now)
        .filter(sso_sessions::id.eq(id))
        .filter(sso_sessions::user_id.eq(user_id))
        .select(SessionRow::as_select())
        .get_result(conn)
        .optional()?)
}

/// The user of `tenant` whose live session's cookie hashes to `token_hash`, read afresh and held
/// until the caller's write transaction ends, as `users::lock` holds it (on PostgreSQL
/// `SELECT … FOR UPDATE`, the session found in a subquery; on SQLite a plain read, its writers
/// taking turns). One statement: what the caller reads after it (the session again) sees what a
/// transaction that held the row before committed. `None` when no live session has that cookie.
pub fn hold_user_of(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    token_hash: &str,
    now: NaiveDateTime,
) -> Result<Option<UserRow>> {
    let session_user = live(tenant, now)
        .filter(sso_sessions::token_hash.eq(token_hash))
        .select(sso_sessions::user_id);
    let user = users::table
        .filter(users::tenant_id.eq(tenant.id()))
        .filter(users::id.eq_any(session_user));
    Ok(match conn {
        DbConnection::Postgres(pg) => user
            .select(UserRow::as_select())
            .for_update()
            .get_result(pg)
            .optional()?,
        DbConnection::Sqlite(sqlite) => user
            .select(UserRow::as_select())
            .get_result(sqlite)
            .optional()?,
    })
}

/// A session of `tenant` by its public id, live or not.
pub fn find(conn: &mut DbConnection, tenant: Tenant<'_>, id: &str) -> Result<Option<SessionRow>> {
    Ok(sso_sessions::table
        .find(id)
        .filter(sso_sessions::tenant_id.eq(tenant.id()))
        .select(SessionRow::as_select())
        .get_result(conn)
        .optional()?)
}

/// When the oldest live session of `tenant` began (`None` when none lives): an ID token as old
/// as that may still come back as its logout's `id_token_hint`, so the keys that signed since
/// then stay in the key ring ([`crate::flows::keys::load`]). Read through the partial index
/// `sso_sessions_live_created` (tenant, creation) of the sessions not ended.
pub fn oldest_live_created(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    now: NaiveDateTime,
) -> Result<Option<NaiveDateTime>> {
    Ok(sso_sessions::table
        .filter(sso_sessions::tenant_id.eq(tenant.id()))
        .filter(sso_sessions::ended_at.is_null())
        .filter(sso_sessions::expires_at.gt(now))
        .order(sso_sessions::created_at.asc())
        .select(sso_sessions::created_at)
        .first(conn)
        .optional()?)
}

/// Ends a session of `tenant`; false when it had ended already.
pub fn end(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    id: &str,
    now: NaiveDateTime,
) -> Result<bool> {
    let changed = diesel::update(
        sso_sessions::table
            .find(id)
            .filter(sso_sessions::tenant_id.eq(tenant.id()))
            .filter(sso_sessions::ended_at.is_null()),
    )
    .set(sso_sessions::ended_at.eq(now))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Records that a session of `tenant` was used at `now` (the account page's "last used").
pub fn seen(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    id: &str,
    now: NaiveDateTime,
) -> Result<()> {
    diesel::update(
        sso_sessions::table
            .find(id)
            .filter(sso_sessions::tenant_id.eq(tenant.id())),
    )
    .set(sso_sessions::last_seen_at.eq(now))
    .execute(conn)?;
    Ok(())
}

/// The live sessions of a user of `tenant`.
pub fn live_for_user(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    user_id: &str,
    now: NaiveDateTime,
) -> Result<Vec<SessionRow>> {
    Ok(live(tenant, now)
        .filter(sso_sessions::user_id.eq(user_id))
        .select(SessionRow::as_select())
        .load(conn)?)
}

/// The sessions of `tenant` live at `now`: not ended, not expired.
#[diesel::dsl::auto_type]
fn live<'a>(tenant: Tenant<'a>, now: NaiveDateTime) -> _ {
    let tenant_id: &'a str = tenant.id();
    sso_sessions::table
        .filter(sso_sessions::tenant_id.eq(tenant_id))
        .filter(sso_sessions::ended_at.is_null())
        .filter(sso_sessions::expires_at.gt(now))
}

/// Raises a live session of `tenant` after a step-up to `raised`: its new cookie's hash, what the
/// login now proved (`amr`), its `acr`, and the time of this authentication.
pub fn raise(conn: &mut DbConnection, tenant: Tenant<'_>, raised: &SessionRow) -> Result<()> {
    diesel::update(
        sso_sessions::table
            .find(&raised.id)
            .filter(sso_sessions::tenant_id.eq(tenant.id())),
    )
    .set((
        sso_sessions::token_hash.eq(&raised.token_hash),
        sso_sessions::amr.eq(&raised.amr),
        sso_sessions::acr.eq(&raised.acr),
        sso_sessions::auth_time.eq(raised.auth_time),
        sso_sessions::last_seen_at.eq(raised.last_seen_at),
    ))
    .execute(conn)?;
    Ok(())
}

/// Renews a live session of `tenant` in place after a new login of its own user in its browser
/// (`renewed`): its new cookie's hash, what the login proved (`amr`, `acr`), its `auth_time`,
/// "remember me" and expiry as the login chose, and the browser it came from. False when the
/// session ended meanwhile.
pub fn renew(conn: &mut DbConnection, tenant: Tenant<'_>, renewed: &SessionRow) -> Result<bool> {
    let changed = diesel::update(
        sso_sessions::table
            .find(&renewed.id)
            .filter(sso_sessions::tenant_id.eq(tenant.id()))
            .filter(sso_sessions::ended_at.is_null()),
    )
    .set((
        sso_sessions::token_hash.eq(&renewed.token_hash),
        sso_sessions::remember.eq(renewed.remember),
        sso_sessions::amr.eq(&renewed.amr),
        sso_sessions::acr.eq(&renewed.acr),
        sso_sessions::auth_time.eq(renewed.auth_time),
        sso_sessions::last_seen_at.eq(renewed.last_seen_at),
        sso_sessions::expires_at.eq(renewed.expires_at),
        sso_sessions::user_agent.eq(&renewed.user_agent),
        sso_sessions::location.eq(&renewed.location),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}
