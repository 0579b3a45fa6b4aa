//! After the resident has a session: consent when it is needed, else a grant and its code for
//! the client (RFC 6749 §4.1.2); a login of the account page goes back to it without a code.

use chrono::Duration;

use super::error::{ErrorCode, OAuthError};
use super::family;
use super::outcome::{AuthResponse, Outcome, refuse, unregistered};
use super::pending::{ACCOUNT_CLIENT, Step, TOO_MANY_WAITING, Waiting, store_pending};
use super::proof::{Proof, meets};
use super::request::{AuthorizationRequest, ResponseMode};
use crate::config::{ClientConfig, GrantType};
use crate::crypto::secret;
use crate::flows::context::Minter;
use crate::store::grants::{self, CodeRow, GrantRow};
use crate::store::sessions::SessionRow;
use crate::store::users::UserRow;
use crate::store::{DbConnection, Tenant};

/// How long an authorization code lives (seconds).
pub const CODE_SECONDS: i64 = 60;

/// After the resident has a session: consent if needed, else a code; `login_required` when the
/// request's `id_token_hint` named another resident than the one who logged in (OIDC Core
/// §3.1.2.1: the OP should not answer for a different user than the hint's). The request waiting
/// for the consent is stored as `waiting` says: a fresh one within its client address's limit
/// (else `temporarily_unavailable`), a login that goes on always (`pending.rs`).
pub fn proceed(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    request: AuthorizationRequest,
    session: &SessionRow,
    user: &UserRow,
    binding: &str,
    waiting: Waiting,
) -> Result<Outcome, OAuthError> {
    if request.client_id == ACCOUNT_CLIENT {
        // A login for the account page: back to it, no code.
        return Ok(Outcome::Respond(AuthResponse {
            redirect_uri: request.redirect_uri,
            response_mode: ResponseMode::Query,
            params: Vec::new(),
        }));
    }
    if let Some(reason) = unregistered(m, &request) {
        return Ok(Outcome::Page(reason));
    }
    if request
        .hinted_subject
        .as_ref()
        .is_some_and(|hinted| hinted != &user.subject)
    {
        return Ok(refuse(
            m,
            &request,
            ErrorCode::LoginRequired,
            "the login is not of the resident the id_token_hint names",
        ));
    }
    let proof = Proof::parse(&session.amr);
    if request.acr_essential && !meets(&proof, &request.acr_values, &m.tenant.acr, true) {
        return Ok(refuse(
            m,
            &request,
            ErrorCode::UnmetAuthenticationRequirements,
            "the login cannot reach the essential acr",
        ));
    }
    let client = client_of(m, &request)?;
    let scope: Vec<&str> = request.scope.iter().map(String::as_str).collect();
    let needs_consent = !client.first_party
        && (request.prompt_consent
            || !grants::has_consent(
                conn,
                Tenant::of(m.tenant),
                &user.id,
                &client.client_id,
                &scope,
            )?);
    if needs_consent {
        if request.prompt_none {
            return Ok(refuse(
                m,
                &request,
                ErrorCode::ConsentRequired,
                "the resident must consent",
            ));
        }
        let step = Step::Consent;
        return Ok(
            match store_pending(m, conn, &request, &user.id, binding, step, waiting)? {
                Some(request_id) => Outcome::Consent { request_id },
                None => refuse(
                    m,
                    &request,
                    ErrorCode::TemporarilyUnavailable,
                    TOO_MANY_WAITING,
                ),
            },
        );
    }
    Ok(Outcome::Respond(issue_code(
        m, conn, &request, session, user,
    )?))
}

fn client_of<'t>(
    m: &Minter<'t>,
    request: &AuthorizationRequest,
) -> Result<&'t ClientConfig, OAuthError> {
    m.tenant
        .client(&request.client_id)
        .ok_or_else(|| OAuthError::server("the request's client is gone"))
}

/// Issues a code for `request` in `session`: a grant, its code, and the response.
pub fn issue_code(
    m: &Minter<'_>,
    conn: &mut DbConnection,
    request: &AuthorizationRequest,
    session: &SessionRow,
    user: &UserRow,
) -> Result<AuthResponse, OAuthError> {
    let client = client_of(m, request)?;
    let tokens = &m.config.settings.tokens;
    let offline = request.offline() && client.grant_types.contains(&GrantType::RefreshToken);
    let expires_at = if offline {
        m.after(tokens.offline_refresh_token_seconds)
    } else {
        m.after(tokens.refresh_token_seconds)
            .min(session.expires_at)
    };
    let code = secret::random_token();
    // The family its refresh tokens will carry, named by the code (the exchange knows it).
    let refresh_family = client
        .grant_types
        .contains(&GrantType::RefreshToken)
        .then(|| family::of_code(&code));
    let grant = GrantRow {
        id: secret::random_token(),
        tenant_id: m.tenant.id.clone(),
        client_id: client.client_id.clone(),
        user_id: Some(user.id.clone()),
        session_id: Some(session.id.clone()),
        scope: request.scope_string(),
        auth_time: Some(session.auth_time),
        amr: Some(session.amr.clone()),
        acr: Some(Proof::parse(&session.amr).acr(&m.tenant.acr).to_string()),
        offline,
        created_at: m.now,
        expires_at,
        revoked_at: None,
        refresh_family,
    };
    grants::insert_grant(conn, &grant)?;
    grants::insert_code(
        conn,
        &CodeRow {
            code_hash: secret::hash(&code),
            grant_id: grant.id.clone(),
            tenant_id: grant.tenant_id.clone(),
            client_id: client.client_id.clone(),
            redirect_uri: request.redirect_uri.clone(),
            nonce: request.nonce.clone(),
            code_challenge: request.code_challenge.clone(),
            claims: None,
            created_at: m.now,
            expires_at: m.now + Duration::seconds(CODE_SECONDS),
            used_at: None,
        },
    )?;
    let mut params = vec![("code".to_string(), code)];
    if let Some(state) = &request.state {
        params.push(("state".into(), state.clone()));
    }
    params.push(("iss".into(), m.issuer.clone()));
    Ok(AuthResponse {
        redirect_uri: request.redirect_uri.clone(),
        response_mode: request.response_mode,
        params,
    })
}
