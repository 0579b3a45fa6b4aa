//! RP-initiated logout 1.0: end the SSO session, then return to the client only at a
//! post-logout redirect URI it registered.

use serde_json::Value;

use super::error::OAuthError;
use super::request::Params;
use super::session;
use crate::flows::context::Minter;

use super::backchannel;
use crate::store::users::UserRow;
use crate::store::{
    DbConnection, StoreError, Tenant, access, ceremonies, epochs, grants, links, second_factors,
    sessions, users,
};

/// What the logout endpoint does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogoutOutcome {
    /// The session ended (or there was none): go to this URI, or show the "logged out" page.
    Done {
        /// The registered post-logout URI with `state`, if the request named a valid one.
        redirect: Option<String>,
    },
    /// The request does not prove which client sent it: ask the resident first.
    Confirm,
    /// The request is broken (a forged `id_token_hint`, a client that is not the hint's audience).
    Page(&'static str),
}

/// Handles a logout request; `confirmed` when the resident confirmed on our page.
pub fn logout(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    params: &Params,
    session_cookie: Option<&str>,
    confirmed: bool,
) -> Result<LogoutOutcome, OAuthError> {
    let hint = match params.get("id_token_hint").filter(|h| !h.is_empty()) {
        None => None,
        Some(token) => match m.verify_jwt(token, None, false) {
            Some(claims) => Some(claims),
            None => return Ok(LogoutOutcome::Page("invalid_id_token_hint")),
        },
    };
    let audiences: Vec<String> = match hint.as_ref().and_then(|h| h.get("aud")) {
        Some(Value::String(aud)) => vec![aud.clone()],
        Some(Value::Array(auds)) => auds
            .iter()
            .filter_map(|a| a.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    let client_id = match params.get("client_id").filter(|c| !c.is_empty()) {
        Some(id) if hint.is_some() && !audiences.contains(id) => {
            return Ok(LogoutOutcome::Page("client_not_audience"));
        }
        Some(id) => Some(id.clone()),
        None => audiences.first().cloned(),
    };
    let client = client_id.as_deref().and_then(|id| m.tenant.client(id));
    let redirect = match (params.get("post_logout_redirect_uri"), client) {
        (Some(uri), Some(client)) if client.post_logout_redirect_uris.contains(uri) => {
            let mut url = url::Url::parse(uri).map_err(OAuthError::server)?;
            if let Some(state) = params.get("state") {
                url.query_pairs_mut().append_pair("state", state);
            }
            Some(url.to_string())
        }
        _ => None,
    };

    let current = session::current(conn, Tenant::of(m.tenant), session_cookie, m.now)?;
    let Some((session, user)) = current else {
        return Ok(LogoutOutcome::Done { redirect });
    };
    // The hint proves the client only when it is about this session's resident.
    let proven = hint
        .as_ref()
        .is_some_and(|h| h.get("sub").and_then(Value::as_str) == Some(user.subject.as_str()));
    if !proven && !confirmed {
        return Ok(LogoutOutcome::Confirm);
    }
    end_session(m, conn, &session.id)?;
    Ok(LogoutOutcome::Done { redirect })
}

/// Recovery: ends every session of `user`, revokes every grant of the user, `offline_access`
/// ones included, and queues the back-channel logouts of every client that held one (with `sid`
/// for the sessions, with only `sub` for grants that had outlived theirs), forgets every consent
/// (one given meanwhile to a third-party e-service would let it get codes silently, `prompt=none`
/// and offline access too, whenever the owner has a session), then [`end_pending`].
/// Inside the caller's transaction. A password reset, "sign out everywhere", the undo of a change
/// of address, support's reset of the second factor and a deletion use it: whoever held the
/// account meanwhile keeps nothing.
///
/// First it holds the user's row and starts the account's next epoch (`standing.rs`): a login
/// that read the account before cannot start its session after, and on PostgreSQL a login's
/// transaction under way either commits first (and its session is ended below) or waits and
/// finds the account changed.
pub fn end_everything(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user: &UserRow,
) -> Result<(), StoreError> {
    let tenant = Tenant::of(m.tenant);
    users::lock(conn, tenant, &user.id)?;
    epochs::advance(conn, tenant, &user.id)?;
    for live in sessions::live_for_user(conn, tenant, &user.id, m.now)? {
        end_session_now(m, conn, &live.id)?;
    }
    let clients = grants::revoke_user_grants(conn, tenant, &user.id, m.now)?;
    backchannel::queue(m, conn, None, &user.subject, &clients)?;
    // The trail keeps that they went (each was recorded as `consent.given`).
    let consents = access::delete_consents(conn, tenant, &user.id)?;
    if consents > 0 {
        m.audit("consents.ended")
            .user(user.id.as_str())
            .detail(&serde_json::json!({ "consents": consents }))
            .record(conn)?;
    }
    end_pending(m, conn, user)
}

/// Ends what was begun on the account of `user` and could be finished later without its
/// password: every unused mailed link but the ways back ([`links::WAYS_BACK`]) — a change of
/// address confirmed through a link its asker mailed to himself would hand him the account
/// again —, every half-done login (a password given, the second factor still to come) and every
/// WebAuthn ceremony. Inside the caller's transaction: a reset, "sign out everywhere", a change
/// of password and the undo of a change of address all do it.
pub fn end_pending(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    user: &UserRow,
) -> Result<(), StoreError> {
    let tenant = Tenant::of(m.tenant);
    links::void_all_for_user(conn, tenant, &user.id, &links::WAYS_BACK, m.now)?;
    second_factors::remove_pending_logins(conn, tenant, &user.id)?;
    ceremonies::remove_for_user(conn, tenant, &user.id)?;
    Ok(())
}

/// Ends a session, revokes the grants bound to it and queues the back-channel logout tokens of
/// the clients that shared it, in one transaction.
pub fn end_session(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    session_id: &str,
) -> Result<(), StoreError> {
    crate::store::write_transaction(conn, |conn| end_session_now(m, conn, session_id))
}

/// Ends a session as [`end_session`] does, inside the caller's transaction: a login of another
/// user in the same browser ends the browser's session this way before its own starts.
pub fn end_session_now(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    session_id: &str,
) -> Result<(), StoreError> {
    let tenant = Tenant::of(m.tenant);
    let Some(session) = sessions::find(conn, tenant, session_id)? else {
        return Ok(());
    };
    // The resident's row held first, as every writer of a grant in the session holds it (single
    // sign-on, the consent, the passkey offer, a step-up): on PostgreSQL a grant being written
    // meanwhile is committed before the session ends, and revoked and told below, not left
    // unseen (its e-service never hearing of the logout).
    let user = users::lock(conn, tenant, &session.user_id)?;
    if !sessions::end(conn, tenant, session_id, m.now)? {
        return Ok(());
    }
    let clients = grants::revoke_session_grants(conn, tenant, session_id, m.now)?;
    if let Some(user) = &user {
        backchannel::queue(m, conn, Some(session_id), &user.subject, &clients)?;
    }
    m.audit("session.ended")
        .user(session.user_id.as_str())
        .record(conn)?;
    Ok(())
}
