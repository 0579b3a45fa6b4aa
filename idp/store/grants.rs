//! Grants and what hangs off them: authorization codes, refresh tokens, revoked access tokens,
//! consents. A grant is the family a replayed code or refresh token revokes at once.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::audit::Event;
use super::connection::on_backend;
use super::schema::{
    audit_events, auth_codes, client_assertion_jtis, consents, grants, refresh_tokens,
    revoked_access_tokens, sso_sessions, users,
};
use super::users::UserRow;
use super::{DbConnection, Result, Tenant};

/// A grant as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = grants)]
pub struct GrantRow {
    /// Random id (the `gid` claim of access tokens).
    pub id: String,
    /// The tenant.
    pub tenant_id: String,
    /// The client.
    pub client_id: String,
    /// The user; none for client_credentials.
    pub user_id: Option<String>,
    /// The SSO session it came from.
    pub session_id: Option<String>,
    /// Granted scope.
    pub scope: String,
    /// When the user authenticated.
    pub auth_time: Option<NaiveDateTime>,
    /// How.
    pub amr: Option<String>,
    /// Assurance class.
    pub acr: Option<String>,
    /// `offline_access`: outlives the session.
    pub offline: bool,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Void after.
    pub expires_at: NaiveDateTime,
    /// Revoked.
    pub revoked_at: Option<NaiveDateTime>,
    /// SHA-256 of the handle its refresh tokens carry (`<handle>.<secret>`), named when the grant
    /// is made (from its code); none for a client without refresh tokens, or a grant made before
    /// families until its next refresh token.
    pub refresh_family: Option<String>,
}

/// An authorization code as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = auth_codes)]
pub struct CodeRow {
    /// SHA-256 of the code.
    pub code_hash: String,
    /// Its grant.
    pub grant_id: String,
    /// The tenant (its grant's).
    pub tenant_id: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The redirect URI of the request.
    pub redirect_uri: String,
    /// The request's nonce.
    pub nonce: Option<String>,
    /// PKCE S256 challenge.
    pub code_challenge: Option<String>,
    /// Requested claims, JSON (unused).
    pub claims: Option<String>,
    /// Issued.
    pub created_at: NaiveDateTime,
    /// Void after.
    pub expires_at: NaiveDateTime,
    /// Exchanged.
    pub used_at: Option<NaiveDateTime>,
}

/// A refresh token as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshRow {
    /// SHA-256 of the token.
    pub token_hash: String,
    /// Its grant (family).
    pub grant_id: String,
    /// The tenant (its grant's).
    pub tenant_id: String,
    /// Scope it can refresh.
    pub scope: String,
    /// Issued.
    pub created_at: NaiveDateTime,
    /// Void after.
    pub expires_at: NaiveDateTime,
    /// Rotated (presented once).
    pub used_at: Option<NaiveDateTime>,
}

/// Stores a grant.
pub fn insert_grant(conn: &mut DbConnection, row: &GrantRow) -> Result<()> {
    super::rows::insert(conn, grants::table, row)
}

/// A grant of `tenant` by id.
pub fn find_grant(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    id: &str,
) -> Result<Option<GrantRow>> {
    Ok(grants::table
        .find(id)
        .filter(grants::tenant_id.eq(tenant.id()))
        .select(GrantRow::as_select())
        .get_result(conn)
        .optional()?)
}

/// When a grant's SSO session ends: its `ended_at` (`None` while it runs) and `expires_at`.
pub type SessionEnd = (Option<NaiveDateTime>, NaiveDateTime);

/// A grant with its user and the end of its SSO session: what a code exchange and a refresh
/// check.
pub type GrantInSession = (GrantRow, Option<UserRow>, Option<SessionEnd>);

/// The join of a grant's SSO session (the session of its `session_id`, of its tenant).
#[diesel::dsl::auto_type]
fn grant_session() -> _ {
    sso_sessions::table.on(sso_sessions::id
        .nullable()
        .eq(grants::session_id)
        .and(sso_sessions::tenant_id.eq(grants::tenant_id)))
}

/// A grant of `tenant` with its user (none for `client_credentials`) and the end of the SSO
/// session it came from (none when it came from none, or the session is gone), in one statement.
pub fn find_grant_in_session(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    id: &str,
) -> Result<Option<GrantInSession>> {
    Ok(on_backend!(conn, |c| grants::table
        .left_join(users::table)
        .left_join(grant_session())
        .filter(grants::id.eq(id))
        .filter(grants::tenant_id.eq(tenant.id()))
        .select((
            GrantRow::as_select(),
            Option::<UserRow>::as_select(),
            (sso_sessions::ended_at, sso_sessions::expires_at).nullable(),
        ))
        .get_result(c)
        .optional())?)
}

/// The user of the grant of `tenant` of an access token that is still live — the grant not
/// revoked, the token's `jti` not on the revocation list — in one statement: `Some(None)` for a
/// live grant without a user, `None` when the token is not live. Userinfo runs nothing else.
pub fn find_live(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    grant_id: &str,
    jti: &str,
) -> Result<Option<Option<UserRow>>> {
    Ok(on_backend!(conn, |c| live_grant(tenant, grant_id, jti)
        .left_join(users::table)
        .select(Option::<UserRow>::as_select())
        .get_result(c)
        .optional())?)
}

/// Whether the grant of `tenant` of an access token is still live, as [`find_live`] says, without
/// reading a row: introspection's question.
pub fn is_live(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    grant_id: &str,
    jti: &str,
) -> Result<bool> {
    Ok(on_backend!(conn, |c| diesel::select(diesel::dsl::exists(
        live_grant(tenant, grant_id, jti)
    ))
    .get_result(c))?)
}

/// The grant `grant_id` of `tenant` while an access token of `jti` from it is live.
///
/// A `jti` on the list is revoked whichever tenant listed it (a jti is a random UUID; rows listed
/// before the tenant was recorded have none).
#[diesel::dsl::auto_type]
fn live_grant<'a>(tenant: Tenant<'a>, grant_id: &'a str, jti: &'a str) -> _ {
    let tenant_id: &'a str = tenant.id();
    grants::table
        .filter(grants::id.eq(grant_id))
        .filter(grants::tenant_id.eq(tenant_id))
        .filter(grants::revoked_at.is_null())
        .filter(diesel::dsl::not(diesel::dsl::exists(
            revoked_access_tokens::table.find(jti),
        )))
}

/// Revokes a grant of `tenant` (and with it its codes, refresh and access tokens); false when it
/// was revoked already.
pub fn revoke_grant(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    id: &str,
    now: NaiveDateTime,
) -> Result<bool> {
    let changed = diesel::update(
        grants::table
            .find(id)
            .filter(grants::tenant_id.eq(tenant.id()))
            .filter(grants::revoked_at.is_null()),
    )
    .set(grants::revoked_at.eq(now))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Revokes the grants of a session of `tenant` that do not outlive it; returns the clients they
/// belonged to.
pub fn revoke_session_grants(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    session_id: &str,
    now: NaiveDateTime,
) -> Result<Vec<String>> {
    let clients = grants::table
        .filter(grants::session_id.eq(session_id))
        .filter(grants::tenant_id.eq(tenant.id()))
        .select(grants::client_id)
        .distinct()
        .load::<String>(conn)?;
    diesel::update(
        grants::table
            .filter(grants::session_id.eq(session_id))
            .filter(grants::tenant_id.eq(tenant.id()))
            .filter(grants::offline.eq(false))
            .filter(grants::revoked_at.is_null()),
    )
    .set(grants::revoked_at.eq(now))
    .execute(conn)?;
    Ok(clients)
}

/// Revokes every unrevoked grant of a user of `tenant`, offline ones included (recovery: a
/// password reset, "sign out everywhere", the undo of a change of address); returns the clients
/// they belonged to.
pub fn revoke_user_grants(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    user_id: &str,
    now: NaiveDateTime,
) -> Result<Vec<String>> {
    let live = grants::table
        .filter(grants::user_id.eq(user_id))
        .filter(grants::tenant_id.eq(tenant.id()))
        .filter(grants::revoked_at.is_null());
    let clients = live
        .select(grants::client_id)
        .distinct()
        .load::<String>(conn)?;
    diesel::update(live)
        .set(grants::revoked_at.eq(now))
        .execute(conn)?;
    Ok(clients)
}

/// Stores a code.
pub fn insert_code(conn: &mut DbConnection, row: &CodeRow) -> Result<()> {
    super::rows::insert(conn, auth_codes::table, row)
}

/// A code of `tenant` by its hash.
pub fn find_code(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    code_hash: &str,
) -> Result<Option<CodeRow>> {
    Ok(auth_codes::table
        .find(code_hash)
        .filter(auth_codes::tenant_id.eq(tenant.id()))
        .select(CodeRow::as_select())
        .get_result(conn)
        .optional()?)
}

/// What a code exchange reads: the code, its grant, the grant's user (none for a grant without
/// one) and the end of the SSO session the grant came from (none when it came from none, or the
/// session is gone).
pub type ClaimedCode = (CodeRow, GrantRow, Option<UserRow>, Option<SessionEnd>);

/// Claims a code of `tenant` issued to `client_id` and not used before: marks it used at `now`
/// (`UPDATE … RETURNING`) and returns it (its `used_at` now set) with its grant, the grant's user
/// and the end of its SSO session: in one statement on PostgreSQL ([`super::rows::Claimed`]), two
/// on SQLite. `None` when there is no such code: unknown, another client's, or used already
/// ([`find_code`] tells which).
pub fn claim_code(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    code_hash: &str,
    client_id: &str,
    now: NaiveDateTime,
) -> Result<Option<ClaimedCode>> {
    let claim = diesel::update(
        auth_codes::table
            .find(code_hash)
            .filter(auth_codes::tenant_id.eq(tenant.id()))
            .filter(auth_codes::client_id.eq(client_id))
            .filter(auth_codes::used_at.is_null()),
    )
    .set(auth_codes::used_at.eq(now));
    if let DbConnection::Postgres(pg) = conn {
        let read = auth_codes::table
            .inner_join(grants::table.left_join(users::table))
            .left_join(grant_session())
            .filter(grants::tenant_id.eq(tenant.id()))
            .select((
                CodeRow::as_select(),
                GrantRow::as_select(),
                Option::<UserRow>::as_select(),
                (sso_sessions::ended_at, sso_sessions::expires_at).nullable(),
            ));
        let claimed = super::rows::Claimed {
            table: "auth_codes",
            claim: claim.returning(auth_codes::all_columns),
            read,
        };
        return Ok(claimed.get_result(pg).optional()?);
    }
    let DbConnection::Sqlite(sqlite) = conn else {
        unreachable!("PostgreSQL returned above");
    };
    let Some(code) = claim
        .returning(CodeRow::as_returning())
        .get_result::<CodeRow>(sqlite)
        .optional()?
    else {
        return Ok(None);
    };
    Ok(find_grant_in_session(conn, tenant, &code.grant_id)?
        .map(|(grant, user, session)| (code, grant, user, session)))
}

/// Stores a refresh token, with `event` when given: on PostgreSQL in one statement (one round
/// trip), on SQLite in two (`store/rows.rs`). The event's chain columns stay empty until the
/// sealer fills them (`store/audit_chain.rs`).
pub fn insert_refresh(
    conn: &mut DbConnection,
    row: &RefreshRow,
    event: Option<&Event<'_>>,
) -> Result<()> {
    match event {
        None => super::rows::insert(conn, refresh_tokens::table, row),
        Some(event) => super::rows::insert_both(
            conn,
            diesel::insert_into(refresh_tokens::table).values(row),
            diesel::insert_into(audit_events::table).values(event),
        ),
    }
}

/// A refresh token of `tenant` by its hash.
pub fn find_refresh(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    token_hash: &str,
) -> Result<Option<RefreshRow>> {
    Ok(refresh_tokens::table
        .find(token_hash)
        .filter(refresh_tokens::tenant_id.eq(tenant.id()))
        .select(RefreshRow::as_select())
        .get_result(conn)
        .optional()?)
}

/// The grant of `tenant` whose refresh tokens carry the handle hashed as `family`.
pub fn find_by_family(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    family: &str,
) -> Result<Option<GrantRow>> {
    Ok(grants::table
        .filter(grants::refresh_family.eq(family))
        .filter(grants::tenant_id.eq(tenant.id()))
        .select(GrantRow::as_select())
        .get_result(conn)
        .optional()?)
}

/// Names the family of a grant of `tenant`: the hash of the handle its refresh tokens carry from
/// now on (one issued before, or by a node of an older version, carried another or none).
pub fn set_family(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    grant_id: &str,
    family: &str,
) -> Result<()> {
    diesel::update(
        grants::table
            .find(grant_id)
            .filter(grants::tenant_id.eq(tenant.id())),
    )
    .set(grants::refresh_family.eq(family))
    .execute(conn)?;
    Ok(())
}

/// Rotates a refresh token of `tenant` that has a family: its row becomes `row`, the new token
/// (one statement, as an insert would be); the old token is then known by its family's handle
/// only.
pub fn replace_refresh(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    old_hash: &str,
    row: &RefreshRow,
) -> Result<()> {
    let changed = diesel::update(
        refresh_tokens::table
            .find(old_hash)
            .filter(refresh_tokens::tenant_id.eq(tenant.id()))
            .filter(refresh_tokens::grant_id.eq(&row.grant_id)),
    )
    .set((
        refresh_tokens::token_hash.eq(&row.token_hash),
        refresh_tokens::scope.eq(&row.scope),
        refresh_tokens::created_at.eq(row.created_at),
        refresh_tokens::expires_at.eq(row.expires_at),
        refresh_tokens::used_at.eq(row.used_at),
    ))
    .execute(conn)?;
    match changed {
        1 => Ok(()),
        _ => super::rows::insert(conn, refresh_tokens::table, row),
    }
}

/// What a refresh reads: the token, its grant, the grant's user (none for a grant without one)
/// and the end of the SSO session the grant came from (none when it came from none, or the
/// session is gone).
pub type ClaimedRefresh = (RefreshRow, GrantRow, Option<UserRow>, Option<SessionEnd>);

/// Claims a refresh token of `tenant` whose grant is `client_id`'s and that was not used before:
/// marks it used (rotated) at `now` (`UPDATE … RETURNING`) and returns it (its `used_at` now set)
/// with its grant, the grant's user and the end of its SSO session: in one statement on PostgreSQL
/// ([`super::rows::Claimed`]), two on SQLite. `None` when there is no such token: unknown, another
/// client's, or rotated already ([`find_refresh`] tells which).
pub fn claim_refresh(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    token_hash: &str,
    client_id: &str,
    now: NaiveDateTime,
) -> Result<Option<ClaimedRefresh>> {
    use diesel::dsl::exists;
    // The token's own grant, by its key (a correlated subquery).
    let clients_grant = grants::table
        .filter(grants::id.eq(refresh_tokens::grant_id))
        .filter(grants::client_id.eq(client_id));
    let claim = diesel::update(
        refresh_tokens::table
            .find(token_hash)
            .filter(refresh_tokens::tenant_id.eq(tenant.id()))
            .filter(refresh_tokens::used_at.is_null())
            .filter(exists(clients_grant)),
    )
    .set(refresh_tokens::used_at.eq(now));
    if let DbConnection::Postgres(pg) = conn {
        let read = refresh_tokens::table
            .inner_join(grants::table.left_join(users::table))
            .left_join(grant_session())
            .filter(grants::tenant_id.eq(tenant.id()))
            .select((
                RefreshRow::as_select(),
                GrantRow::as_select(),
                Option::<UserRow>::as_select(),
                (sso_sessions::ended_at, sso_sessions::expires_at).nullable(),
            ));
        let claimed = super::rows::Claimed {
            table: "refresh_tokens",
            claim: claim.returning(refresh_tokens::all_columns),
            read,
        };
        return Ok(claimed.get_result(pg).optional()?);
    }
    let DbConnection::Sqlite(sqlite) = conn else {
        unreachable!("PostgreSQL returned above");
    };
    let Some(token) = claim
        .returning(RefreshRow::as_returning())
        .get_result::<RefreshRow>(sqlite)
        .optional()?
    else {
        return Ok(None);
    };
    Ok(find_grant_in_session(conn, tenant, &token.grant_id)?
        .map(|(grant, user, session)| (token, grant, user, session)))
}

/// Lists an access token of `tenant` as revoked until it expires.
pub fn revoke_access_token(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    jti: &str,
    expires_at: NaiveDateTime,
) -> Result<bool> {
    // Listed before (a repeated revocation) is as good as listed now. Looked for first: in a
    // PostgreSQL transaction a refused insert would abort the rest (the revocation's event).
    if access_token_revoked(conn, tenant, jti)? {
        return Ok(false);
    }
    let listed = (
        revoked_access_tokens::jti.eq(jti),
        revoked_access_tokens::tenant_id.eq(tenant.id()),
        revoked_access_tokens::expires_at.eq(expires_at),
    );
    super::rows::insert_new(conn, revoked_access_tokens::table, listed)
}

/// Whether the access token `jti` of `tenant` is listed as revoked (a machine token, which has no
/// grant to check).
pub fn access_token_revoked(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    jti: &str,
) -> Result<bool> {
    use diesel::dsl::exists;
    Ok(diesel::select(exists(
        revoked_access_tokens::table
            .find(jti)
            .filter(revoked_access_tokens::tenant_id.eq(tenant.id())),
    ))
    .get_result(conn)?)
}

/// Whether `user` of `tenant` consented to `client` for at least `scope`.
pub fn has_consent(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    user: &str,
    client: &str,
    scope: &[&str],
) -> Result<bool> {
    let granted = consents::table
        .find((user, client))
        .filter(consents::tenant_id.eq(tenant.id()))
        .select(consents::scope)
        .get_result::<String>(conn)
        .optional()?;
    Ok(granted.is_some_and(|granted| {
        let granted: Vec<&str> = granted.split(' ').collect();
        scope.iter().all(|s| granted.contains(s))
    }))
}

/// Records consent of `user` of `tenant` to `client` for `scope` (replacing an earlier one).
pub fn save_consent(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    user: &str,
    client: &str,
    scope: &str,
    now: NaiveDateTime,
) -> Result<()> {
    diesel::delete(
        consents::table
            .find((user, client))
            .filter(consents::tenant_id.eq(tenant.id())),
    )
    .execute(conn)?;
    let consent = (
        consents::user_id.eq(user),
        consents::client_id.eq(client),
        consents::tenant_id.eq(tenant.id()),
        consents::scope.eq(scope),
        consents::granted_at.eq(now),
    );
    super::rows::insert(conn, consents::table, consent)
}

/// Records a client assertion's key until it expires; false when it was recorded before.
pub fn record_assertion(
    conn: &mut DbConnection,
    jti_key: &str,
    expires_at: NaiveDateTime,
) -> Result<bool> {
    let recorded = (
        client_assertion_jtis::jti_key.eq(jti_key),
        client_assertion_jtis::expires_at.eq(expires_at),
    );
    super::rows::insert_new(conn, client_assertion_jtis::table, recorded)
}
