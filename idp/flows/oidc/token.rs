//! The token endpoint (RFC 6749 §3.2, §4.1.3, §4.4, §6; RFC 7636 §4.6; OIDC Core §3.1.3).

use serde::Serialize;

use super::client_auth::{self, Presented};
use super::error::committed;
use super::error::{ErrorCode, OAuthError};
use super::family;
use super::request::Params;
use super::tokens::s256;
use crate::config::{ClientConfig, GrantType, SigningAlg};
use crate::crypto::secret;
use crate::flows::context::Minter;
use crate::flows::former::released;
use crate::store::audit::Event;
use crate::store::grants::{self, GrantRow, RefreshRow, SessionEnd};
use crate::store::users::UserRow;
use crate::store::{DbConnection, Tenant};

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// The granted scope.
    pub scope: String,
    /// The ID token (for grants with `openid`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// The refresh token, when the client may refresh.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// Handles a token request from `presented` with form `params`.
pub fn exchange(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    presented: &Presented,
    params: &Params,
) -> Result<TokenResponse, OAuthError> {
    let client = client_auth::authenticate(m.tenant, conn, presented, m.now)?;
    match granted(client, params)? {
        GrantType::AuthorizationCode => authorization_code(m, conn, client, params),
        GrantType::RefreshToken => refresh_token(m, conn, client, params),
        GrantType::ClientCredentials => client_credentials(m, client, params),
    }
}

/// Answers, without the store, the token requests that need none: client credentials of a
/// client that authenticates with its secret, when the access token's signature is cheap enough
/// to make on an async worker (ES256, EdDSA: tens of µs; RS256 takes a millisecond and goes to
/// the pool). The answer is [`exchange`]'s; `None` when the request needs [`exchange`].
pub fn without_store(
    m: &Minter<'_>,
    presented: &Presented,
    params: &Params,
) -> Option<Result<TokenResponse, OAuthError>> {
    let machine = params.get("grant_type").map(String::as_str) == Some("client_credentials");
    if !machine
        || presented.has_assertion()
        || m.config.settings.tokens.access_token_alg == SigningAlg::RS256
    {
        return None;
    }
    Some(
        client_auth::by_secret(m.tenant, presented, m.now)
            .and_then(|client| granted(client, params).map(|_| client))
            .and_then(|client| client_credentials(m, client, params)),
    )
}

/// The grant `params` asks for, when `client` may use it.
fn granted(client: &ClientConfig, params: &Params) -> Result<GrantType, OAuthError> {
    let grant_type = params
        .get("grant_type")
        .ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
    let grant = match grant_type.as_str() {
        "authorization_code" => GrantType::AuthorizationCode,
        "refresh_token" => GrantType::RefreshToken,
        "client_credentials" => GrantType::ClientCredentials,
        _ => {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                "grant_type must be authorization_code, refresh_token or client_credentials",
            ));
        }
    };
    if !client.grant_types.contains(&grant) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            format!("the client may not use the {grant_type} grant"),
        ));
    }
    Ok(grant)
}

fn required<'p>(params: &'p Params, name: &str) -> Result<&'p str, OAuthError> {
    params
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| OAuthError::invalid_request(format!("{name} is required")))
}

fn authorization_code(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    client: &ClientConfig,
    params: &Params,
) -> Result<TokenResponse, OAuthError> {
    let code = required(params, "code")?;
    let code_hash = secret::hash(code);
    let tenant = Tenant::of(m.tenant);
    // One transaction: one commit (one fsync on SQLite) for the code's use, the refresh token
    // and the audit event.
    committed(conn, |conn| {
        let invalid = || OAuthError::invalid_grant("the code is invalid, expired or used");
        // The code is claimed (marked used) and read with its grant and user.
        let claimed = grants::claim_code(conn, tenant, &code_hash, &client.client_id, m.now)?;
        let Some((row, grant, user, session)) = claimed else {
            // Unknown, another client's, or used before: a replay, and everything issued from
            // the code is revoked (RFC 6749 §4.1.2).
            if let Some(row) = grants::find_code(conn, tenant, &code_hash)?
                && row.client_id == client.client_id
                && let Some(grant) = grants::find_grant(conn, tenant, &row.grant_id)?
            {
                revoke_replayed(m, conn, &grant, "code.replayed")?;
            }
            return Err(invalid());
        };
        // A code whose grant ends with its session is refused once the session ended: a logout
        // or a recovery that committed while the grant was being written did not see it to
        // revoke it (`session::held` keeps recoveries from that; a logout takes no lock).
        if row.expires_at <= m.now || grant.revoked_at.is_some() || ended_with(&grant, session, m) {
            return Err(invalid());
        }
        if params.get("redirect_uri") != Some(&row.redirect_uri) {
            return Err(OAuthError::invalid_grant(
                "redirect_uri differs from the authorization request's",
            ));
        }
        match (&row.code_challenge, params.get("code_verifier")) {
            (Some(challenge), Some(verifier)) => {
                let well_formed = (43..=128).contains(&verifier.len())
                    && verifier
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
                if !well_formed || !secret::constant_time_eq(&s256(verifier), challenge) {
                    return Err(OAuthError::invalid_grant(
                        "the PKCE code_verifier does not match",
                    ));
                }
            }
            (Some(_), None) => {
                return Err(OAuthError::invalid_grant(
                    "code_verifier (PKCE) is required",
                ));
            }
            (None, Some(_)) => {
                return Err(OAuthError::invalid_grant(
                    "code_verifier given but the authorization request had no code_challenge",
                ));
            }
            (None, None) => {}
        }
        let issued = grant_event(m, "token.issued", &grant);
        let handle = family::handle_of_code(code);
        let asked = Asked {
            nonce: row.nonce.as_deref(),
            refresh_scope: &grant.scope,
            family: Some(&handle),
            replacing: None,
        };
        issue(m, conn, client, &grant, user, asked, Some(&issued))
    })
}

fn refresh_token(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    client: &ClientConfig,
    params: &Params,
) -> Result<TokenResponse, OAuthError> {
    let presented = family::Presented::of(required(params, "refresh_token")?);
    let tenant = Tenant::of(m.tenant);
    // One transaction, as for a code.
    committed(conn, |conn| {
        let invalid =
            || OAuthError::invalid_grant("the refresh token is invalid, expired or revoked");
        // The token is claimed (marked rotated) and read with its grant, user and session.
        let claimed =
            grants::claim_refresh(conn, tenant, &presented.hash, &client.client_id, m.now)?;
        let Some((row, grant, user, session)) = claimed else {
            // Unknown, another client's, or rotated before: someone holds a copy of a rotated
            // token, and the family is revoked.
            if let Some(grant) = presented.grant(conn, tenant)?
                && grant.client_id == client.client_id
            {
                revoke_replayed(m, conn, &grant, "refresh_token.reused")?;
            }
            return Err(invalid());
        };
        if row.expires_at <= m.now
            || grant.expires_at <= m.now
            || grant.revoked_at.is_some()
            || ended_with(&grant, session, m)
        {
            return Err(invalid());
        }
        let mut grant = grant;
        // A refresh token carries the scope it was issued with; the new one carries the same
        // (RFC 6749 §6: "identical to that of the refresh token included"), whatever this
        // request narrows its access token and ID token to.
        grant.scope = row.scope.clone();
        let asked = Asked {
            nonce: None,
            refresh_scope: &row.scope,
            family: presented.handle,
            // A token of a family is known by its handle once rotated: its row is the new one's.
            replacing: presented.handle.map(|_| presented.hash.as_str()),
        };
        if let Some(requested) = params.get("scope") {
            let granted: Vec<&str> = grant.scope.split(' ').collect();
            let narrowed: Vec<&str> = requested.split(' ').filter(|s| !s.is_empty()).collect();
            if narrowed.iter().any(|s| !granted.contains(s)) {
                return Err(OAuthError::new(
                    ErrorCode::InvalidScope,
                    "scope exceeds what was granted",
                ));
            }
            grant.scope = narrowed.join(" ");
        }
        issue(m, conn, client, &grant, user, asked, None)
    })
}

/// Whether `grant`, bound to the browser session whose end is `session` (none when it came from
/// none, or the session is gone), ended with it: a grant without `offline_access` ends when its
/// session ends or expires.
pub fn ended_with(grant: &GrantRow, session: Option<SessionEnd>, m: &Minter<'_>) -> bool {
    let live = |(ended_at, expires_at): SessionEnd| ended_at.is_none() && expires_at > m.now;
    !grant.offline && !session.is_some_and(live)
}

/// The audit event `kind` of `grant`: its user and client.
fn grant_event<'e>(m: &'e Minter<'_>, kind: &'e str, grant: &'e GrantRow) -> Event<'e> {
    m.audit(kind)
        .user(grant.user_id.as_deref())
        .client(grant.client_id.as_str())
}

/// A one-time secret of `grant` (a code, a refresh token) presented again: someone else holds
/// it, so the grant is revoked with everything issued from it, and `kind` audited.
fn revoke_replayed(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    grant: &GrantRow,
    kind: &str,
) -> Result<(), OAuthError> {
    // With its event or not at all (a failure to write it is a server error, and rolls both back).
    grants::revoke_grant(conn, Tenant::of(m.tenant), &grant.id, m.now)?;
    grant_event(m, kind, grant).record(conn)?;
    Ok(())
}

fn client_credentials(
    m: &Minter<'_>,
    client: &ClientConfig,
    params: &Params,
) -> Result<TokenResponse, OAuthError> {
    // No user: no openid, no offline_access, no identity scopes.
    let scope: Vec<&str> = params
        .get("scope")
        .map(|s| s.split(' ').filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    if let Some(bad) = scope.iter().find(|s| super::supported::SCOPES.contains(s)) {
        return Err(OAuthError::new(
            ErrorCode::InvalidScope,
            format!("scope {bad} needs a resident; client_credentials has none"),
        ));
    }
    // Only the scopes the city lists for this client (`[[clients]] scopes`): a token of any scope
    // asked for would let a machine client reach any API that trusts idp's tokens by scope (RFC
    // 9700 §2.3). The word is not echoed: it is the client's, of any characters.
    if scope
        .iter()
        .any(|s| !client.scopes.iter().any(|mine| mine == s))
    {
        return Err(OAuthError::new(
            ErrorCode::InvalidScope,
            "a scope asked for is not one this client may be given (its scopes in the tenant file)",
        ));
    }
    let scope = scope.iter().fold(Vec::new(), |mut once, s| {
        if !once.contains(s) {
            once.push(*s);
        }
        once
    });
    // A machine token is a signed JWT and nothing else: no grant row, no write (RFC 9068; its
    // revocation lists its `jti` until it expires). The grant below only shapes its claims.
    let grant = GrantRow {
        id: String::new(),
        tenant_id: m.tenant.id.clone(),
        client_id: client.client_id.clone(),
        user_id: None,
        session_id: None,
        scope: scope.join(" "),
        auth_time: None,
        amr: None,
        acr: None,
        offline: false,
        created_at: m.now,
        expires_at: m.after(m.config.settings.tokens.access_token_seconds),
        revoked_at: None,
        refresh_family: None,
    };
    let (access_token, claims) = m.access_token(&grant, &client.client_id)?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: claims.exp - claims.iat,
        scope: grant.scope,
        id_token: None,
        refresh_token: None,
    })
}

/// What a token request adds to its grant: the ID token's `nonce` (a code's), the scope of the
/// new refresh token (the grant's, or the presented refresh token's), its family's handle (the
/// code's, or the presented refresh token's; none for a token issued before families) and the
/// hash of the token of the family it replaces.
struct Asked<'a> {
    nonce: Option<&'a str>,
    refresh_scope: &'a str,
    family: Option<&'a str>,
    replacing: Option<&'a str>,
}

/// Access token, ID token and (rotated) refresh token for a user's grant; `event` audited with
/// the refresh token (in one statement on PostgreSQL), or alone when the client gets none.
fn issue(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    client: &ClientConfig,
    grant: &GrantRow,
    user: Option<UserRow>,
    Asked {
        nonce,
        refresh_scope,
        family,
        replacing,
    }: Asked<'_>,
    event: Option<&Event<'_>>,
) -> Result<TokenResponse, OAuthError> {
    if grant.user_id.is_none() {
        return Err(OAuthError::server("a user grant without a user"));
    }
    let user = user
        .filter(|u| !u.disabled)
        .ok_or_else(|| OAuthError::invalid_grant("the account is disabled or gone"))?;
    let (access_token, claims) = m.access_token(grant, &user.subject)?;
    let id_token = if grant.scope.split(' ').any(|s| s == "openid") {
        let former = released(conn, Tenant::of(m.tenant), &user, &grant.scope)?;
        Some(m.id_token(grant, &user, &former, nonce, &access_token)?)
    } else {
        None
    };
    let refresh_token = if client.grant_types.contains(&GrantType::RefreshToken) {
        let tenant = Tenant::of(m.tenant);
        let token = family::next_token(conn, tenant, grant, family)?;
        let row = RefreshRow {
            token_hash: secret::hash(&token),
            grant_id: grant.id.clone(),
            tenant_id: grant.tenant_id.clone(),
            scope: refresh_scope.to_string(),
            created_at: m.now,
            expires_at: grant.expires_at,
            used_at: None,
        };
        match replacing {
            Some(old) => {
                grants::replace_refresh(conn, tenant, old, &row)?;
                if let Some(event) = event {
                    event.record(conn)?;
                }
            }
            None => grants::insert_refresh(conn, &row, event)?,
        }
        Some(token)
    } else {
        if let Some(event) = event {
            event.record(conn)?;
        }
        None
    };
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: claims.exp - claims.iat,
        scope: grant.scope.clone(),
        id_token,
        refresh_token,
    })
}
