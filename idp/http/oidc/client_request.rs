//! What the endpoints of authenticated clients share (`token`, `introspect`, `revoke`, `par`):
//! the form, the client credentials it presents (HTTP Basic, a secret in the form, a
//! `private_key_jwt` assertion verified against the keys the client publishes), the flow, and
//! the error in the form of RFC 6749 §5.2.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;

use crate::config::{AssertionAudience, AuthMethod};
use crate::flows::context::Minter;
use crate::flows::oidc::assertion;
use crate::flows::oidc::client_auth::{self, Presented};
use crate::flows::oidc::error::{ErrorCode, OAuthError};
use crate::flows::oidc::request::Params;
use crate::http::cors;
use crate::http::extract::TenantRequest;
use crate::http::state::AppState;
use crate::http::util::form;
use crate::store::DbConnection;

/// The flow of an endpoint of authenticated clients.
pub type ClientFlow<T> =
    fn(&Minter<'_>, &mut DbConnection, &Presented, &Params) -> Result<T, OAuthError>;

/// A client endpoint's answer without the store, for the requests that need none (`None`: this
/// one needs the flow).
pub type WithoutStore<T> = fn(&Minter<'_>, &Presented, &Params) -> Option<Result<T, OAuthError>>;

/// How a client endpoint's flow runs: on the blocking pool ([`AppState::flow`]); for a flow
/// that only reads (introspection), at once on the worker when it can
/// ([`AppState::read_flow`]); or, for the requests that need no store at all (a machine token
/// of a client with a secret), answered at once on the worker ([`AppState::here`]) and the
/// others on the pool.
pub enum Runs<T> {
    /// On the blocking pool.
    OnPool,
    /// On the worker when it can: the flow only reads.
    ReadingHere,
    /// On the worker when the request needs no store, else on the blocking pool.
    HereWithoutStore(WithoutStore<T>),
}

/// Runs `flow` of `endpoint` for the client's request: its form, its credentials, then the flow.
/// The answer is `ok` of the flow's result, or the error (RFC 6749 §5.2).
pub async fn answer<T>(
    request: TenantRequest,
    endpoint: &str,
    (flow, runs): (ClientFlow<T>, Runs<T>),
    ok: impl FnOnce(T) -> HttpResponse,
) -> HttpResponse
where
    T: Send + 'static,
{
    let TenantRequest {
        state,
        tenant,
        req,
        body,
    } = request;
    let params = form(&req, &body);
    // Whether a page (`Origin`) may read the answer: a public client's only (`cors`).
    let readable = {
        let fields = params.as_ref().ok();
        let field = |name: &str| fields.and_then(|params| params.get(name));
        let sends_a_secret =
            field("client_secret").is_some() || field("client_assertion").is_some();
        cors::page_may_read(
            &tenant,
            &req,
            field("client_id").map(String::as_str),
            sends_a_secret,
        )
    };
    // The grant a token request asks for, for its count.
    let grant = (endpoint == "token").then(|| {
        params
            .as_ref()
            .ok()
            .and_then(|params| params.get("grant_type").cloned())
    });
    let result = async {
        let params = params?;
        let presented = presented(&req, &params)?;
        if let Runs::HereWithoutStore(without_store) = runs
            && let Some(answer) = state.here(&tenant.id, |m| without_store(m, &presented, &params))
        {
            return answer;
        }
        let presented = verify_assertion(&state, &tenant.id, endpoint, presented).await;
        let run = move |m: &Minter<'_>, conn: &mut DbConnection| flow(m, conn, &presented, &params);
        match runs {
            Runs::ReadingHere => state.read_flow(&tenant.id, run).await,
            Runs::OnPool | Runs::HereWithoutStore(_) => state.flow(&tenant.id, run).await,
        }
    }
    .await;
    if let Some(grant) = grant {
        let outcome = result
            .as_ref()
            .map_or_else(|e| e.code.as_str(), |_| "issued");
        (state.services.metrics).token_request(&tenant.id, grant.as_deref(), outcome);
    }
    let mut response = match result {
        Ok(value) => ok(value),
        Err(error) => oauth_error(&error),
    };
    if !readable {
        response.extensions_mut().insert(cors::Withheld);
    }
    response
}

/// The client credentials a request presents.
fn presented(req: &HttpRequest, params: &Params) -> Result<Presented, OAuthError> {
    let basic = match req.headers().get("authorization").map(|v| v.to_str()) {
        Some(Ok(value)) => client_auth::parse_basic(value)?,
        Some(Err(_)) => {
            return Err(OAuthError::new(
                ErrorCode::InvalidClient,
                client_auth::BAD_BASIC,
            ));
        }
        None => None,
    };
    Ok(Presented {
        basic,
        client_id: params.get("client_id").cloned(),
        client_secret: params.get("client_secret").cloned(),
        assertion_type: params.get("client_assertion_type").cloned(),
        assertion: params.get("client_assertion").cloned(),
        verified: None,
    })
}

/// An error of the token, introspection, revocation or PAR endpoint (RFC 6749 §5.2).
pub(super) fn oauth_error(error: &OAuthError) -> HttpResponse {
    let status = StatusCode::from_u16(error.code.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut response = HttpResponse::build(status);
    response
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Pragma", "no-cache"));
    if status == StatusCode::UNAUTHORIZED {
        response.insert_header(("WWW-Authenticate", "Basic realm=\"idp\", charset=\"UTF-8\""));
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.insert_header(("Retry-After", "5"));
    }
    response.json(json!({ "error": error.code.as_str(), "error_description": error.description }))
}

/// Checks a `client_assertion` (private_key_jwt) against the keys its client publishes; the
/// outcome goes into `presented.verified` for client authentication to judge.
async fn verify_assertion(
    state: &AppState,
    tenant: &str,
    endpoint: &str,
    mut presented: Presented,
) -> Presented {
    let Some(raw) = presented.assertion.clone() else {
        return presented;
    };
    let refuse = |text: &str| Some(Err(OAuthError::new(ErrorCode::InvalidClient, text)));
    let Some(client_id) = assertion::claimed_client(&raw) else {
        presented.verified = refuse("the client assertion is not a JWT");
        return presented;
    };
    // Junk is refused before the client's keys are fetched.
    if let Err(error) = assertion::check_header(&raw) {
        presented.verified = Some(Err(error));
        return presented;
    }
    let client = state
        .config
        .tenant(tenant)
        .and_then(|t| t.client(&client_id))
        .filter(|c| c.token_endpoint_auth_method == AuthMethod::PrivateKeyJwt);
    let Some(jwks_uri) = client.and_then(|c| c.jwks_uri.as_ref()) else {
        presented.verified = refuse("the client does not use private_key_jwt");
        return presented;
    };
    let keys = match state.services.client_keys(jwks_uri.as_str()).await {
        Ok(keys) => keys,
        Err(error) => {
            tracing::warn!(client = %client_id, %error, "cannot fetch the client's keys");
            presented.verified = refuse("the client's keys could not be fetched");
            return presented;
        }
    };
    let issuer = state
        .config
        .tenant(tenant)
        .map(|t| state.config.issuer(t))
        .unwrap_or_default();
    let endpoints = [
        issuer.clone(),
        format!("{issuer}/token"),
        format!("{issuer}/{endpoint}"),
    ];
    let audiences = match client.map(|c| c.assertion_audience) {
        Some(AssertionAudience::Issuer) => assertion::Audiences::Sole(&issuer),
        _ => assertion::Audiences::AnyOf(&endpoints),
    };
    presented.verified = Some(assertion::verify(
        &raw,
        &client_id,
        &keys,
        audiences,
        state.services.clock.now(),
    ));
    presented
}
