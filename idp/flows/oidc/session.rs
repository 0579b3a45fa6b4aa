//! SSO sessions: the browser keeps a random value, the database its hash.

use chrono::NaiveDateTime;

use super::proof::Proof;
use crate::crypto::secret;
use crate::flows::context::seconds;
use crate::store::sessions::{self, SessionRow};
use crate::store::users::{self, UserRow};
use crate::store::{self, DbConnection, StoreError, Tenant};

/// The live session a cookie value names, with its user (not disabled).
pub fn current(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    cookie: Option<&str>,
    now: NaiveDateTime,
) -> Result<Option<(SessionRow, UserRow)>, StoreError> {
    let Some(cookie) = cookie.filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    let Some(session) = sessions::find_live(conn, tenant, &secret::hash(cookie), now)? else {
        return Ok(None);
    };
    match users::find(conn, tenant, &session.user_id)? {
        Some(user) if !user.disabled => Ok(Some((session, user))),
        _ => Ok(None),
    }
}

/// Starts a session for `user` after a login that proved `proof` (of the tenant's `acr`);
/// returns it and the cookie value. Only `steps.rs` calls it: every login ends there.
pub(super) fn start(
    conn: &mut DbConnection,
    user: &UserRow,
    proof: &Proof,
    acr: &str,
    remember: bool,
    lifetime_seconds: u64,
    now: NaiveDateTime,
) -> Result<(SessionRow, String), StoreError> {
    let cookie = secret::random_token();
    let row = SessionRow {
        id: store::new_id(now),
        token_hash: secret::hash(&cookie),
        tenant_id: user.tenant_id.clone(),
        user_id: user.id.clone(),
        remember,
        auth_time: now,
        amr: proof.stored(),
        acr: Some(acr.to_string()),
        created_at: now,
        last_seen_at: now,
        expires_at: now + seconds(lifetime_seconds),
        ended_at: None,
    };
    sessions::insert(conn, &row)?;
    Ok((row, cookie))
}
