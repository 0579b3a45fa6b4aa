//! Pushed authorization requests (RFC 9126): the client posts the request, authenticated, and
//! gets a one-time, short-lived `request_uri` bound to it.
//!
//! A public client's push is anyone's (its `client_id` is all it takes), from the resident's own
//! device: it counts against its client address's limit of waiting requests, with the address's
//! anonymous requests (`pending.rs`, `[limits] waiting_requests_per_address`), and past it is
//! refused with `temporarily_unavailable` and stores nothing. A confidential client's push comes
//! from the e-service's server, one address for all its residents, which a per-address limit
//! would shut out: it counts against that e-service's own limit (`[limits]
//! pushed_requests_per_client`), so that an e-service whose secret leaked, or a hostile vendor,
//! cannot fill the database every tenant shares.

use chrono::Duration;
use serde::Serialize;

use super::client_auth::{self, Presented};
use super::error::{ErrorCode, OAuthError};
use super::pending::{store_counted, store_within, too_many_waiting};
use super::request::{self, Params, RequestError};
use crate::config::AuthMethod;
use crate::crypto::secret;
use crate::flows::context::Minter;
use crate::store::auth_requests::{self, AuthRequestRow};
use crate::store::{DbConnection, Tenant};

/// How long a pushed request waits for the browser (seconds).
pub const LIFETIME: i64 = 60;

/// The prefix of our request URIs.
pub const URN_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// The description of `temporarily_unavailable` when a confidential client has too many pushed
/// requests waiting already.
pub const TOO_MANY_PUSHED: &str = "too many pushed authorization requests of this client are waiting for a login; try again later";

/// The answer to a push (RFC 9126 §2.2).
#[derive(Debug, Clone, Serialize)]
pub struct Pushed {
    /// Where the browser is to be sent with.
    pub request_uri: String,
    /// Seconds it stays valid.
    pub expires_in: i64,
}

/// Checks and stores a pushed request. `Ok(Err(error))` is a push refused because its public
/// client's address, or its confidential client, has too many requests waiting: nothing is
/// stored, and the refusal is counted
/// in the metrics, which count only what a flow returned `Ok` (its transaction committed); the
/// endpoint answers it as any error.
pub fn push(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    presented: &Presented,
    params: &Params,
) -> Result<Result<Pushed, OAuthError>, OAuthError> {
    let client = client_auth::authenticate(m.tenant, conn, presented, m.now)?;
    if params
        .get("client_id")
        .is_some_and(|id| id != &client.client_id)
    {
        return Err(OAuthError::invalid_request(
            "client_id differs from the authenticated client",
        ));
    }
    if params.contains_key("request_uri") {
        return Err(OAuthError::invalid_request("request_uri cannot be pushed"));
    }
    // Only what the authorization endpoint reads is kept (not the client's credentials, nor
    // parameters it ignores, which have no limit of their own).
    let mut params: Params = params
        .iter()
        .filter(|(name, _)| request::PARAMETERS.contains(&name.as_str()))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    params.insert("client_id".into(), client.client_id.clone());
    match request::parse(m.tenant, &params) {
        Ok(_) => {}
        Err(RequestError::Page(reason)) => {
            return Err(OAuthError::invalid_request(match reason {
                "missing_redirect_uri" => "redirect_uri is required",
                "unregistered_redirect_uri" => "redirect_uri is not registered for the client",
                _ => "the request is not valid",
            }));
        }
        Err(RequestError::Redirect { error, .. }) => return Err(error),
    }
    let token = secret::random_token();
    let request_uri = format!("{URN_PREFIX}{token}");
    let public = client.token_endpoint_auth_method == AuthMethod::None;
    let row = AuthRequestRow {
        id: secret::random_token(),
        tenant_id: m.tenant.id.clone(),
        client_id: client.client_id.clone(),
        params: serde_json::to_string(&params).map_err(OAuthError::server)?,
        request_uri_hash: Some(secret::hash(&request_uri)),
        user_id: None,
        session_id: None,
        created_at: m.now,
        expires_at: m.now + Duration::seconds(LIFETIME),
        client_key: m.client_key().filter(|_| public),
    };
    if public {
        if !store_within(m, conn, &row)? {
            return Ok(Err(too_many_waiting()));
        }
    } else {
        let row = AuthRequestRow {
            client_key: Some(pushing_key(&m.tenant.id, &client.client_id)),
            ..row
        };
        let limit = m.config.settings.limits.pushed_requests_per_client;
        if !store_counted(m, conn, &row, limit)? {
            return Ok(Err(OAuthError::new(
                ErrorCode::TemporarilyUnavailable,
                TOO_MANY_PUSHED,
            )));
        }
    }
    Ok(Ok(Pushed {
        request_uri,
        expires_in: LIFETIME,
    }))
}

/// What a confidential client's pushes are counted by: the client of its tenant (hashed, as the
/// addresses' keys are; the prefix keeps the two kinds apart).
fn pushing_key(tenant: &str, client_id: &str) -> String {
    secret::hash(&format!("pushing:{tenant}\n{client_id}"))
}

/// The parameters of the pushed request `request_uri` of `client_id`, taken (one use only).
/// `None` when unknown, expired, used, or pushed by another client.
pub fn take(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    client_id: Option<&String>,
    request_uri: &str,
) -> Result<Option<Params>, OAuthError> {
    let Some(row) = auth_requests::take_pushed(
        conn,
        Tenant::of(m.tenant),
        &secret::hash(request_uri),
        m.now,
    )?
    else {
        return Ok(None);
    };
    if client_id != Some(&row.client_id) {
        return Ok(None);
    }
    let params: Params = serde_json::from_str(&row.params).map_err(OAuthError::server)?;
    Ok(Some(params))
}

/// The error of an unusable `request_uri`.
pub fn invalid_request_uri() -> OAuthError {
    OAuthError::new(
        ErrorCode::InvalidRequestUri,
        "request_uri is unknown, expired, used or not this client's",
    )
}
