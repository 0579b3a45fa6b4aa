//! Checks of a tenant's clients that serde cannot make: ids, secrets and the authentication
//! method, grants, and every URI they give.

use std::collections::HashSet;

use secrecy::ExposeSecret;

use super::rules::{check_onward_origin, check_redirect_uri, check_web_origin, check_web_uri};
use crate::config::client::{
    AssertionAudience, AuthMethod, ClientConfig, GrantType, IDENTITY_SCOPES,
};
use crate::config::problems::Problem;

/// The SHA-256 of empty text, hex: what `printf %s "$SECRET" | sha256sum` gives for an unset
/// variable.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Problems of a tenant's `[[clients]]`; `source` names the tenant file.
pub(super) fn clients(clients: &[ClientConfig], source: &str) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut problem = |key: String, message: String| {
        problems.push(Problem::new(source, key, message));
    };
    let mut client_ids = HashSet::new();
    for (i, client) in clients.iter().enumerate() {
        let key = |name: &str| format!("clients[{i}].{name}");
        if client.client_id.is_empty() || !client.client_id.chars().all(|c| c.is_ascii_graphic()) {
            problem(
                key("client_id"),
                "must be non-empty printable ASCII without spaces".into(),
            );
        }
        // `_account` is the account page's own login (`flows::oidc::pending::ACCOUNT_CLIENT`),
        // answered without a code: ids beginning with `_` are idp's.
        if client.client_id.starts_with('_') {
            problem(
                key("client_id"),
                "must not begin with \"_\" (idp's own, such as the account page's \"_account\")"
                    .into(),
            );
        }
        if !client_ids.insert(client.client_id.as_str()) {
            problem(
                key("client_id"),
                format!(
                    "\"{}\" is used by another client of this tenant",
                    client.client_id
                ),
            );
        }
        let has_secret = client.client_secret.is_some() || client.client_secret_sha256.is_some();
        if client.client_secret.is_some() && client.client_secret_sha256.is_some() {
            problem(
                key("client_secret"),
                "give client_secret or client_secret_sha256, not both".into(),
            );
        }
        if let Some(hash) = &client.client_secret_sha256
            && (hash.len() != 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()))
        {
            problem(
                key("client_secret_sha256"),
                "must be 64 hexadecimal digits (the SHA-256 of the secret)".into(),
            );
        }
        // An empty secret (a script's unset variable hashed) would let anyone in as the client.
        if client
            .client_secret
            .as_ref()
            .is_some_and(|s| s.expose_secret().is_empty())
        {
            problem(key("client_secret"), "must not be empty".into());
        }
        if client
            .client_secret_sha256
            .as_ref()
            .is_some_and(|hash| hash.eq_ignore_ascii_case(EMPTY_SHA256))
        {
            problem(
                key("client_secret_sha256"),
                "is the SHA-256 of empty text: anyone could authenticate as this client with an empty secret; give the SHA-256 of a secret of 32 random bytes or more (openssl rand -base64 32)".into(),
            );
        }
        for (name, message) in previous_secret_problems(client) {
            problem(key(name), message);
        }
        match client.token_endpoint_auth_method {
            AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost if !has_secret => problem(
                key("client_secret"),
                "is required by this token_endpoint_auth_method (or give client_secret_sha256)"
                    .into(),
            ),
            AuthMethod::None | AuthMethod::PrivateKeyJwt if has_secret => problem(
                key("client_secret"),
                "must not be set for this token_endpoint_auth_method".into(),
            ),
            _ => {}
        }
        if client.token_endpoint_auth_method == AuthMethod::PrivateKeyJwt
            && client.jwks_uri.is_none()
        {
            problem(
                key("jwks_uri"),
                "is required with token_endpoint_auth_method = \"private_key_jwt\"".into(),
            );
        }
        if client.assertion_audience != AssertionAudience::IssuerOrEndpoint
            && client.token_endpoint_auth_method != AuthMethod::PrivateKeyJwt
        {
            problem(
                key("assertion_audience"),
                "is for token_endpoint_auth_method = \"private_key_jwt\"".into(),
            );
        }
        if let Some(uri) = &client.jwks_uri
            && let Err(message) = check_web_uri(uri.as_str())
        {
            problem(key("jwks_uri"), message);
        }
        if client.token_endpoint_auth_method == AuthMethod::None
            && client.grant_types.contains(&GrantType::ClientCredentials)
        {
            problem(
                key("grant_types"),
                "client_credentials needs an authenticated client, not token_endpoint_auth_method = \"none\"".into(),
            );
        }
        for (j, scope) in client.scopes.iter().enumerate() {
            if let Err(message) = check_machine_scope(scope) {
                problem(format!("{}[{j}]", key("scopes")), message);
            }
        }
        if !client.scopes.is_empty() && !client.grant_types.contains(&GrantType::ClientCredentials)
        {
            problem(
                key("scopes"),
                "is for client_credentials tokens, and this client may not use that grant".into(),
            );
        }
        if client.grant_types.is_empty() {
            problem(
                key("grant_types"),
                "must name at least one grant type".into(),
            );
        }
        if client.grant_types.contains(&GrantType::AuthorizationCode)
            && client.redirect_uris.is_empty()
        {
            problem(
                key("redirect_uris"),
                "must list at least one URI for the authorization_code grant".into(),
            );
        }
        for (j, uri) in client.redirect_uris.iter().enumerate() {
            if let Err(message) = check_redirect_uri(uri) {
                problem(format!("clients[{i}].redirect_uris[{j}]"), message);
            }
        }
        for (j, uri) in client.post_logout_redirect_uris.iter().enumerate() {
            if let Err(message) = check_redirect_uri(uri) {
                problem(
                    format!("clients[{i}].post_logout_redirect_uris[{j}]"),
                    message,
                );
            }
        }
        if let Some(uri) = &client.backchannel_logout_uri
            && let Err(message) = check_web_uri(uri)
        {
            problem(key("backchannel_logout_uri"), message);
        }
        if !client.web_origins.is_empty() && client.token_endpoint_auth_method != AuthMethod::None {
            problem(
                key("web_origins"),
                "is for a public client (token_endpoint_auth_method = \"none\"): a page in the browser cannot keep a client's secret or key, so a confidential client calls the token endpoint from its server, which needs no CORS".into(),
            );
        }
        for (j, origin) in client.web_origins.iter().enumerate() {
            if let Err(message) = check_web_origin(origin) {
                problem(format!("{}[{j}]", key("web_origins")), message);
            }
        }
        for (j, origin) in client.onward_origins.iter().enumerate() {
            if let Err(message) = check_onward_origin(origin) {
                problem(format!("{}[{j}]", key("onward_origins")), message);
            }
        }
    }
    problems
}

/// How far ahead a previous secret's expiry may be, in days.
const MAX_ROTATION_DAYS: i64 = 180;

/// What is wrong with a client's previous secret (a rotation): the key, and why.
fn previous_secret_problems(client: &ClientConfig) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    let previous = client.previous_client_secret_sha256.as_deref();
    match (previous, client.previous_secret_expires) {
        (Some(_), None) => problems.push((
            "previous_secret_expires",
            "is required with previous_client_secret_sha256: a rotation ends (the date and time after which the old secret is refused, \"2027-01-31T12:00:00+02:00\")".into(),
        )),
        (None, Some(_)) => problems.push((
            "previous_secret_expires",
            "is for previous_client_secret_sha256".into(),
        )),
        _ => {}
    }
    // Read at each load: a date that passes only comes nearer, so a file once accepted stays so.
    let latest = crate::clock::Clock::now(&crate::clock::SystemClock)
        + chrono::Duration::days(MAX_ROTATION_DAYS);
    if client
        .previous_secret_expires
        .is_some_and(|expiry| expiry.0 > latest)
    {
        problems.push((
            "previous_secret_expires",
            format!(
                "is more than {MAX_ROTATION_DAYS} days ahead: a rotation ends within weeks (a year mistyped?); a secret for longer is the client's only one"
            ),
        ));
    }
    let Some(previous) = previous else {
        return problems;
    };
    if client.client_secret_sha256.is_none() {
        problems.push((
            "previous_client_secret_sha256",
            "needs the new secret in client_secret_sha256 (a rotation of a hashed secret)".into(),
        ));
    }
    if previous.len() != 64 || !previous.chars().all(|c| c.is_ascii_hexdigit()) {
        problems.push((
            "previous_client_secret_sha256",
            "must be 64 hexadecimal digits (the SHA-256 of the secret)".into(),
        ));
    } else if previous.eq_ignore_ascii_case(EMPTY_SHA256) {
        problems.push((
            "previous_client_secret_sha256",
            "is the SHA-256 of empty text: anyone could authenticate as this client with an empty secret".into(),
        ));
    } else if client
        .client_secret_sha256
        .as_deref()
        .is_some_and(|current| current.eq_ignore_ascii_case(previous))
    {
        problems.push((
            "previous_client_secret_sha256",
            "is the current secret's hash: give the old secret's".into(),
        ));
    }
    problems
}

/// A scope a machine token may carry: a `scope-token` of RFC 6749 §3.3 (printable ASCII but
/// space, `"` and `\`), not a resident's identity scope.
fn check_machine_scope(scope: &str) -> Result<(), String> {
    let allowed = |c: char| matches!(c, '\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E');
    if scope.is_empty() || !scope.chars().all(allowed) {
        return Err(format!(
            "{scope:?} is not a scope: printable ASCII without spaces, quotes or backslashes"
        ));
    }
    if IDENTITY_SCOPES.contains(&scope) {
        return Err(format!(
            "\"{scope}\" needs a resident; a client_credentials token has none"
        ));
    }
    Ok(())
}
