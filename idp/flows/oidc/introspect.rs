//! Token introspection (RFC 7662): authenticated clients, each seeing only its own tokens.

use serde_json::{Value, json};

use super::client_auth::{self, Presented};
use super::error::OAuthError;
use super::request::Params;
use super::userinfo::live_claims;
use crate::crypto::secret;
use crate::flows::context::Minter;
use crate::flows::oidc::token::ended_with;
use crate::store::{DbConnection, Tenant, grants};

/// Answers whether `token` is active for the authenticated client.
pub fn introspect(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    presented: &Presented,
    params: &Params,
) -> Result<Value, OAuthError> {
    let client = client_auth::authenticate(m.tenant, conn, presented, m.now)?;
    if client.token_endpoint_auth_method == crate::config::AuthMethod::None {
        return Err(OAuthError::new(
            super::error::ErrorCode::InvalidClient,
            "introspection needs an authenticated (confidential) client",
        ));
    }
    let token = params
        .get("token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    let inactive = json!({ "active": false });
    let hint = params.get("token_type_hint").map(String::as_str);
    let access_first = hint != Some("refresh_token");
    for kind in if access_first { [0, 1] } else { [1, 0] } {
        let answer = if kind == 0 {
            access(m, conn, token)?
        } else {
            refresh(m, conn, token)?
        };
        if let Some(answer) = answer {
            let belongs =
                answer.get("client_id").and_then(Value::as_str) == Some(client.client_id.as_str());
            // An inactive token's answer says nothing more, even to its own client (RFC 7662
            // §2.2): not that it was ours, nor how it ended.
            let active = answer.get("active") == Some(&Value::Bool(true));
            return Ok(if belongs && active { answer } else { inactive });
        }
    }
    Ok(inactive)
}

fn access(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    token: &str,
) -> Result<Option<Value>, OAuthError> {
    if token.split('.').count() != 3 {
        return Ok(None);
    }
    let Ok(claims) = live_claims(m, conn, token) else {
        return Ok(None);
    };
    let mut answer = json!({
        "active": true,
        "token_type": "Bearer",
        "client_id": claims.client_id,
        "scope": claims.scope,
        "sub": claims.sub,
        "aud": claims.aud,
        "iss": claims.iss,
        "exp": claims.exp,
        "iat": claims.iat,
        "jti": claims.jti,
    });
    if let (Some(sid), Value::Object(map)) = (claims.sid, &mut answer) {
        map.insert("sid".into(), json!(sid));
    }
    Ok(Some(answer))
}

fn refresh(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    token: &str,
) -> Result<Option<Value>, OAuthError> {
    let Some(row) = grants::find_refresh(conn, Tenant::of(m.tenant), &secret::hash(token))? else {
        return Ok(None);
    };
    let tenant = Tenant::of(m.tenant);
    let Some((grant, user, session)) = grants::find_grant_in_session(conn, tenant, &row.grant_id)?
    else {
        return Ok(None);
    };
    // Active exactly when the token endpoint would take it: unused, unexpired, its grant not
    // revoked, and a grant without `offline_access` not ended with its session.
    let active = row.used_at.is_none()
        && row.expires_at > m.now
        && grant.revoked_at.is_none()
        && !ended_with(&grant, session, m);
    if !active {
        return Ok(Some(
            json!({ "active": false, "client_id": grant.client_id }),
        ));
    }
    let subject = user.map(|u| u.subject);
    Ok(Some(json!({
        "active": true,
        "token_type": "refresh_token",
        "client_id": grant.client_id,
        "scope": row.scope,
        "sub": subject,
        "iss": m.issuer,
        "exp": row.expires_at.and_utc().timestamp(),
        "iat": row.created_at.and_utc().timestamp(),
    })))
}
