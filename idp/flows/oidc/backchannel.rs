//! Back-channel logout 1.0: when a session ends, every relying party that shared it and
//! registered a `backchannel_logout_uri` is told so with a signed logout token, delivered from a
//! durable queue with retries.

use chrono::{Duration, NaiveDateTime};
use serde_json::{Value, json};

use super::error::OAuthError;
use crate::crypto::secret;
use crate::flows::context::Minter;
use crate::store::deliveries::{self, DeliveryRow};
use crate::store::lease_queue::QueueState;
use crate::store::{self, DbConnection, StoreError};

/// The event that makes a JWT a logout token (§2.4).
pub const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// Attempts before a delivery is given up.
pub const MAX_ATTEMPTS: i64 = 12;

/// Why a delivery failed without a request: its client is not in this node's configuration of the
/// tenant (nor, perhaps, the tenant). Given up after [`NOWHERE_ATTEMPTS`].
pub const NOWHERE: &str = "the client is not configured";

/// Attempts of a delivery whose client is not configured before it is given up: ten minutes and
/// a half of retries (10 s, doubling: 10 + 20 + … + 320 s), for the nodes of a rolling restart to
/// agree.
pub const NOWHERE_ATTEMPTS: i64 = 7;

/// Queues a logout token for each of `clients` that registered a back-channel logout URI. The
/// token names the session (`sid`) when one ended; without one (recovery revoking grants that
/// outlived their session, such as `offline_access`) it names the resident only, which §2.4
/// allows: the client ends everything it holds of that `sub`.
pub fn queue(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    session_id: Option<&str>,
    subject: &str,
    clients: &[String],
) -> Result<usize, StoreError> {
    let mut queued = 0;
    for client_id in clients {
        let Some(uri) = m
            .tenant
            .client(client_id)
            .and_then(|c| c.backchannel_logout_uri.clone())
        else {
            continue;
        };
        let mut claims = json!({
            "iss": m.issuer,
            "aud": client_id,
            "jti": secret::random_token(),
            "sub": subject,
            "events": { EVENT: {} },
        });
        if let (Some(sid), Value::Object(map)) = (session_id, &mut claims) {
            map.insert("sid".into(), json!(sid));
        }
        deliveries::insert(
            conn,
            &DeliveryRow {
                id: store::new_id(m.now),
                tenant_id: m.tenant.id.clone(),
                client_id: client_id.clone(),
                uri,
                logout_token: claims.to_string(),
                queue: QueueState::pending(m.now),
                created_at: m.now,
                delivered_at: None,
            },
        )?;
        queued += 1;
    }
    Ok(queued)
}

/// Signs a queued token now (fresh `iat` and `exp`, the same `jti`), with the algorithm of the
/// client's ID tokens.
pub fn sign(m: &Minter<'_>, row: &DeliveryRow) -> Result<String, OAuthError> {
    let mut claims: Value = serde_json::from_str(&row.logout_token).map_err(OAuthError::server)?;
    let iat = m.now.and_utc().timestamp();
    if let Value::Object(map) = &mut claims {
        map.insert("iat".into(), json!(iat));
        map.insert("exp".into(), json!(iat + 120));
    }
    let alg = m
        .tenant
        .client(&row.client_id)
        .map(|c| c.id_token_signed_response_alg)
        .ok_or_else(|| OAuthError::server("the delivery's client is gone"))?;
    let key = m
        .keys
        .tenant(&m.tenant.id)
        .and_then(|k| k.signing(alg, m.now))
        .ok_or_else(|| OAuthError::server("no signing key"))?;
    key.sign_jwt(Some("logout+jwt"), &claims)
        .map_err(OAuthError::server)
}

/// When to try again after `attempts` failed attempts, or `None` to give up.
pub fn retry_at(now: NaiveDateTime, attempts: i64) -> Option<NaiveDateTime> {
    if attempts >= MAX_ATTEMPTS {
        return None;
    }
    let exponent = u32::try_from(attempts.clamp(0, 10)).unwrap_or(10);
    let delay = (5_i64 * 2_i64.pow(exponent)).min(3600);
    Some(now + Duration::seconds(delay))
}
