//! SSO sessions: the browser keeps a random value, the database its hash.

use chrono::NaiveDateTime;

use super::proof::Proof;
use crate::crypto::secret;
use crate::domain::text;
use crate::flows::context::{Minter, seconds};
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
    let Some(token_hash) = hashed(cookie) else {
        return Ok(None);
    };
    let Some(session) = sessions::find_live(conn, tenant, &token_hash, now)? else {
        return Ok(None);
    };
    match users::find(conn, tenant, &session.user_id)? {
        Some(user) if !user.disabled => Ok(Some((session, user))),
        _ => Ok(None),
    }
}

/// The live session a cookie value names, with its user (not disabled), as [`current`] finds
/// it, but with the user's row held for the rest of the caller's write transaction and the
/// session read after that (`standing.rs`): a recovery that ended the session before is seen,
/// one under way on PostgreSQL waited for. What is then written in the session (a grant and its
/// code, a step-up, its use) is either seen by the recovery or not written at all. No more
/// statements than [`current`]: the row is held by the look-up of the user.
pub fn held(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    cookie: Option<&str>,
    now: NaiveDateTime,
) -> Result<Option<(SessionRow, UserRow)>, StoreError> {
    let Some(token_hash) = hashed(cookie) else {
        return Ok(None);
    };
    let held = sessions::hold_user_of(conn, tenant, &token_hash, now)?;
    let Some(user) = held.filter(|u| !u.disabled) else {
        return Ok(None);
    };
    let session = sessions::find_live(conn, tenant, &token_hash, now)?;
    Ok(session
        .filter(|s| s.user_id == user.id)
        .map(|session| (session, user)))
}

/// The hash a session of the cookie value `cookie` is stored by; `None` without a value.
fn hashed(cookie: Option<&str>) -> Option<String> {
    cookie.filter(|c| !c.is_empty()).map(secret::hash)
}

/// How long a session's "last used" time stands before a use records it again: one write per
/// session in that time, not one per request.
pub const SEEN_EVERY_SECONDS: i64 = 300;

/// Whether a use of `session` at `now` is to be recorded: its last use is older than
/// [`SEEN_EVERY_SECONDS`].
pub fn used_long_ago(session: &SessionRow, now: NaiveDateTime) -> bool {
    now - session.last_seen_at >= chrono::Duration::seconds(SEEN_EVERY_SECONDS)
}

/// Records that `session` was used at `now` when [`used_long_ago`]; in the caller's transaction.
pub fn note_use(
    conn: &mut DbConnection,
    tenant: Tenant<'_>,
    session: &SessionRow,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    if !used_long_ago(session, now) {
        return Ok(());
    }
    sessions::seen(conn, tenant, &session.id, now)
}

/// The most of a `User-Agent` header a session keeps, in characters.
pub const USER_AGENT_CHARS: usize = 512;

/// What a session keeps of a `User-Agent` header: without control characters and the invisible
/// marks that reorder text (`domain::text::invisible`), trimmed, at most [`USER_AGENT_CHARS`]
/// characters; `None` when nothing is left.
pub fn kept_user_agent(raw: Option<&str>) -> Option<String> {
    text::visible(raw?, USER_AGENT_CHARS)
}

/// Where a login of `m`'s request comes from, when the tenant shows session locations and the
/// node has a location database that knows the client address.
fn location(m: &Minter<'_>) -> Option<String> {
    if !m.tenant.sessions.location {
        return None;
    }
    m.geo?.locate(m.remote_addr.as_deref()?)
}

/// Starts a session for `user` after a login that proved `proof`, in the browser of `m`'s
/// request (its `User-Agent`, [`kept_user_agent`]); returns it and the cookie value. Only
/// `steps.rs` calls it: every login ends there.
pub(super) fn start(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user: &UserRow,
    proof: &Proof,
    remember: bool,
    lifetime_seconds: u64,
) -> Result<(SessionRow, String), StoreError> {
    let (now, acr) = (m.now, proof.acr(&m.tenant.acr));
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
        user_agent: kept_user_agent(m.user_agent.as_deref()),
        location: location(m),
    };
    sessions::insert(conn, &row)?;
    Ok((row, cookie))
}

/// Renews the live session `open` of `user` in place after a new login of that user in the same
/// browser: a new cookie value, what the login proved (`amr`, `acr`), a fresh `auth_time`,
/// "remember me" and the expiry as this login chose. Its id (the `sid`) and the grants bound to
/// it stay, so that one logout still ends everything the browser holds. Returns it and the cookie
/// value; `None` when it ended meanwhile. Only `steps.rs` calls it.
pub(super) fn renew(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    open: SessionRow,
    proof: &Proof,
    remember: bool,
    lifetime_seconds: u64,
) -> Result<Option<(SessionRow, String)>, StoreError> {
    let (now, acr) = (m.now, proof.acr(&m.tenant.acr));
    let cookie = secret::random_token();
    let renewed = SessionRow {
        token_hash: secret::hash(&cookie),
        remember,
        auth_time: now,
        amr: proof.stored(),
        acr: Some(acr.to_string()),
        last_seen_at: now,
        expires_at: now + seconds(lifetime_seconds),
        user_agent: kept_user_agent(m.user_agent.as_deref()),
        location: location(m),
        ..open
    };
    Ok(sessions::renew(conn, Tenant::of(m.tenant), &renewed)?.then_some((renewed, cookie)))
}

#[cfg(test)]
mod tests {
    use super::{USER_AGENT_CHARS, kept_user_agent};

    #[test]
    fn a_user_agent_is_kept_clean_and_short() {
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
        assert_eq!(kept_user_agent(Some(firefox)).as_deref(), Some(firefox));
        assert_eq!(
            kept_user_agent(Some(
                " Evil\r\nSet-Cookie: x\u{0}\u{1b}[31m \u{202e}txt.exe "
            ))
            .as_deref(),
            Some("EvilSet-Cookie: x[31m txt.exe")
        );
        let long = "a".repeat(USER_AGENT_CHARS + 100);
        assert_eq!(
            kept_user_agent(Some(&long)).map(|k| k.chars().count()),
            Some(USER_AGENT_CHARS)
        );
        let wide = "ä".repeat(USER_AGENT_CHARS + 1);
        assert_eq!(
            kept_user_agent(Some(&wide)),
            Some("ä".repeat(USER_AGENT_CHARS))
        );
        assert_eq!(kept_user_agent(Some(" \t\n")), None);
        assert_eq!(kept_user_agent(None), None);
    }
}
