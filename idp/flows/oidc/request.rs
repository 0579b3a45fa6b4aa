//! An authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1), checked and normalised.
//!
//! The client and its exact redirect URI are checked before anything else: until both are known
//! good, an error is shown to the resident and never sent to the redirect URI (RFC 6749 §4.1.2.1).
//!
//! Every value has a limit ([`LIMITS`], [`MAX_ACR_VALUES`]): a checked request is stored before
//! anyone has logged in — waiting for the login (`pending.rs`, for
//! `tokens.authorization_request_seconds`) or pushed (`par.rs`, a minute) —, so without them one
//! anonymous request could keep some 390 KB (64 KiB of control characters in `state`, six bytes
//! each in JSON) for half an hour.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::error::{ErrorCode, OAuthError};
use super::supported::SCOPES;
use crate::config::{AuthMethod, ClientConfig, GrantType, Language, TenantConfig};

/// How the response reaches the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    /// In the redirect URI's query.
    Query,
    /// As an auto-submitted HTML form (OAuth 2.0 Form Post Response Mode).
    FormPost,
}

/// A checked authorization request, as stored while the resident logs in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    /// The client.
    pub client_id: String,
    /// The registered redirect URI, exactly as registered.
    pub redirect_uri: String,
    /// Query or form_post.
    pub response_mode: ResponseMode,
    /// The scopes understood, in request order (always contains `openid`).
    pub scope: Vec<String>,
    /// Echoed byte for byte.
    pub state: Option<String>,
    /// Into the ID token.
    pub nonce: Option<String>,
    /// PKCE S256 challenge.
    pub code_challenge: Option<String>,
    /// `prompt=none`
    pub prompt_none: bool,
    /// `prompt=login`
    pub prompt_login: bool,
    /// `prompt=consent`
    pub prompt_consent: bool,
    /// Seconds since the last login the client accepts.
    pub max_age: Option<i64>,
    /// The identifier to prefill.
    pub login_hint: Option<String>,
    /// Preferred languages, space-separated.
    pub ui_locales: Option<String>,
    /// The raw `id_token_hint`, checked by the authorization flow.
    pub id_token_hint: Option<String>,
    /// The language of the login it starts, chosen when it arrived (`ui_locales`, the language
    /// cookie, Accept-Language) or later with the selector; every page and mail of the login
    /// uses it. Not a request parameter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<Language>,
    /// The `acr` values asked for, most preferred first: `acr_values`, or the `acr` claim's
    /// `value`/`values` in the `claims` parameter (OIDC Core §5.5.1.1).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acr_values: Vec<String>,
    /// Whether the `acr` claim was asked for as essential: a login that cannot reach one of the
    /// values is refused rather than answered with a lower `acr`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub acr_essential: bool,
    /// The `sub` of the verified `id_token_hint`: only that resident's login answers the request
    /// (`decide::proceed`; anyone else's is `login_required`). Set by the authorization endpoint
    /// once it has verified the hint, not a request parameter; a request stored before the field
    /// existed reads as none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hinted_subject: Option<String>,
}

impl AuthorizationRequest {
    /// The scope as a space-separated string.
    pub fn scope_string(&self) -> String {
        self.scope.join(" ")
    }

    /// Whether `offline_access` was asked for.
    pub fn offline(&self) -> bool {
        self.scope.iter().any(|s| s == "offline_access")
    }
}

/// Why a request was refused, and where the refusal goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// The client or redirect URI cannot be trusted: tell the resident, do not redirect.
    Page(&'static str),
    /// Tell the client at its (verified) redirect URI.
    Redirect {
        /// Where.
        redirect_uri: String,
        /// How.
        response_mode: ResponseMode,
        /// The request's state, echoed.
        state: Option<String>,
        /// What.
        error: OAuthError,
    },
}

/// The parameters of a request, by name (a parameter given twice is an error).
pub type Params = HashMap<String, String>;

/// Every parameter [`parse`] reads (besides `request_uri`, which names a pushed request); a pushed
/// request keeps only these (`par.rs`), which changes nothing (`proptests.rs`:
/// `a_parameter_not_read_changes_nothing`).
pub const PARAMETERS: [&str; 18] = [
    "client_id",
    "redirect_uri",
    "response_type",
    "response_mode",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "login_hint",
    "ui_locales",
    "id_token_hint",
    "acr_values",
    "claims",
    "request",
    "registration",
];

/// The longest value, in bytes, of each parameter whose value is not one of a few known ones;
/// longer is `invalid_request`. The client and redirect URI must equal configured ones and the
/// PKCE challenge is 43 characters, so they need none. `state` and `nonce` hold whatever random
/// value a relying party makes (commonly 22 to 64 characters); `login_hint` an address (at most
/// 254) or an authority user's username; `ui_locales` a dozen language tags; `scope` far more than
/// the four scopes understood; `prompt` each value once; `max_age` any `i64`; `claims` a JSON
/// object asking for the ID token's `acr` and more; `id_token_hint` one of our ID tokens (1,006
/// bytes for a resident with `email` and `profile`, RS256; more with a long nonce or many former
/// usernames).
pub const LIMITS: [(&str, usize); 10] = [
    ("state", 1024),
    ("nonce", 1024),
    ("login_hint", 320),
    ("ui_locales", 128),
    ("scope", 1024),
    ("prompt", 64),
    ("max_age", 20),
    ("acr_values", 1024),
    ("claims", 2048),
    ("id_token_hint", 8192),
];

/// The most `acr` values a request may ask for (in `acr_values` or the `claims` parameter).
pub const MAX_ACR_VALUES: usize = 10;

/// Whether `value`, of the parameter `name`, is over its limit in [`LIMITS`].
fn too_long(name: &str, value: &str) -> bool {
    LIMITS
        .iter()
        .any(|(limited, limit)| *limited == name && value.len() > *limit)
}

/// Why the first value of `params` over its limit is refused, if one is.
fn oversized(params: &Params) -> Option<String> {
    LIMITS.iter().find_map(|(name, limit)| {
        params
            .get(*name)
            .is_some_and(|v| too_long(name, v))
            .then(|| format!("{name} is longer than {limit} bytes"))
    })
}

/// Whether `value` could be a JWS in compact form: base64url segments and dots (RFC 7515 §7.1).
fn jwt_characters(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Collects name/value pairs; `Err(name)` when a parameter repeats (RFC 6749 §3.1).
pub fn collect(pairs: Vec<(String, String)>) -> Result<Params, String> {
    let mut params = Params::new();
    for (name, value) in pairs {
        if params.contains_key(&name) {
            return Err(name);
        }
        params.insert(name, value);
    }
    Ok(params)
}

/// Checks the client and redirect URI only (the page-or-redirect boundary).
pub fn client_and_redirect<'t>(
    tenant: &'t TenantConfig,
    params: &Params,
) -> Result<(&'t ClientConfig, String), RequestError> {
    let client_id = params
        .get("client_id")
        .filter(|c| !c.is_empty())
        .ok_or(RequestError::Page("missing_client"))?;
    let client = tenant
        .client(client_id)
        .ok_or(RequestError::Page("unknown_client"))?;
    let redirect_uri = params
        .get("redirect_uri")
        .ok_or(RequestError::Page("missing_redirect_uri"))?;
    if !registered_redirect(client, redirect_uri) {
        return Err(RequestError::Page("unregistered_redirect_uri"));
    }
    Ok((client, redirect_uri.clone()))
}

/// Whether `uri` is a redirect URI of `client`: one registered, to the letter, or a public
/// client's loopback one on the port the request names ([`takes_any_port`]).
pub fn registered_redirect(client: &ClientConfig, uri: &str) -> bool {
    client
        .redirect_uris
        .iter()
        .any(|r| r == uri || loopback_on_any_port(client, r, uri))
}

/// Whether `client`'s registered redirect URI `url` takes any port: RFC 8252 §7.3 (and RFC 9700
/// §2.1), a native app's loopback redirect, `http://127.0.0.1`, on whatever port the system gave
/// the app's listener. A public client's only: a confidential one's redirect goes to a server, on
/// its one registered port. The name `localhost` is not a loopback IP literal (RFC 8252 §8.3): it
/// matches exactly or not at all; and an IPv6 literal is no redirect URI of ours at all (a CSP
/// source cannot name it: `config::validate::rules::check_redirect_uri`).
pub fn takes_any_port(client: &ClientConfig, url: &url::Url) -> bool {
    client.token_endpoint_auth_method == AuthMethod::None
        && url.scheme() == "http"
        && url.host() == Some(url::Host::Ipv4(std::net::Ipv4Addr::LOCALHOST))
}

/// `presented` is `registered`, a loopback URI that takes any port, with another port: the rest
/// spelled to the letter as the registered URI is.
pub fn loopback_on_any_port(client: &ClientConfig, registered: &str, presented: &str) -> bool {
    let (Ok(mut expected), Ok(asked)) = (url::Url::parse(registered), url::Url::parse(presented))
    else {
        return false;
    };
    if !takes_any_port(client, &expected) || expected.host() != asked.host() {
        return false;
    }
    expected.set_port(asked.port()).is_ok() && expected.as_str() == presented
}

/// The refusal of an `id_token_hint` that is not an ID token of ours (here when it cannot be a
/// JWT at all; the authorization endpoint says it of one that does not verify).
pub const NOT_OUR_ID_TOKEN: &str = "id_token_hint is not an ID token of this issuer";

/// Checks a whole request.
pub fn parse(tenant: &TenantConfig, params: &Params) -> Result<AuthorizationRequest, RequestError> {
    let (client, redirect_uri) = client_and_redirect(tenant, params)?;
    // A state over its limit is not sent back (an error without it): it would make a `Location`
    // header of up to 190 KB, which proxies refuse, and no relying party's request has one.
    let state = params
        .get("state")
        .filter(|s| !too_long("state", s))
        .cloned();
    let response_mode = match params.get("response_mode").map(String::as_str) {
        None | Some("query") => Ok(ResponseMode::Query),
        Some("form_post") => Ok(ResponseMode::FormPost),
        Some(_) => Err("response_mode must be query or form_post"),
    };
    let fail = |mode: ResponseMode, code: ErrorCode, description: &str| RequestError::Redirect {
        redirect_uri: redirect_uri.clone(),
        response_mode: mode,
        state: state.clone(),
        error: OAuthError::new(code, description),
    };
    let response_mode =
        response_mode.map_err(|d| fail(ResponseMode::Query, ErrorCode::InvalidRequest, d))?;
    let fail = |code: ErrorCode, description: &str| fail(response_mode, code, description);
    if let Some(description) = oversized(params) {
        return Err(fail(ErrorCode::InvalidRequest, &description));
    }

    if params.contains_key("request") {
        return Err(fail(
            ErrorCode::RequestNotSupported,
            "request objects are not supported",
        ));
    }
    if params.contains_key("registration") {
        return Err(fail(
            ErrorCode::RegistrationNotSupported,
            "the registration parameter is not supported",
        ));
    }
    match params.get("response_type").map(String::as_str) {
        Some("code") => {}
        None => return Err(fail(ErrorCode::InvalidRequest, "response_type is required")),
        Some(_) => {
            return Err(fail(
                ErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            ));
        }
    }
    if !client.grant_types.contains(&GrantType::AuthorizationCode) {
        return Err(fail(
            ErrorCode::UnauthorizedClient,
            "the client may not use the authorization code grant",
        ));
    }

    let requested: Vec<&str> = params
        .get("scope")
        .map(|s| s.split(' ').filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    if !requested.contains(&"openid") {
        return Err(fail(ErrorCode::InvalidScope, "scope must contain openid"));
    }
    let mut scope: Vec<String> = Vec::new();
    for s in requested {
        if SCOPES.contains(&s) && !scope.iter().any(|have| have == s) {
            scope.push(s.to_string());
        }
    }

    let code_challenge = params.get("code_challenge").cloned();
    match (
        params.get("code_challenge_method").map(String::as_str),
        &code_challenge,
    ) {
        (_, None) if client.token_endpoint_auth_method == AuthMethod::None => {
            return Err(fail(
                ErrorCode::InvalidRequest,
                "code_challenge (PKCE) is required for public clients",
            ));
        }
        (_, None) if client.require_pkce => {
            return Err(fail(
                ErrorCode::InvalidRequest,
                "code_challenge (PKCE) is required for this client",
            ));
        }
        (Some(_), None) => {
            return Err(fail(ErrorCode::InvalidRequest, "code_challenge is missing"));
        }
        (None, None) | (Some("S256"), Some(_)) => {}
        (None | Some("plain"), Some(_)) => {
            return Err(fail(
                ErrorCode::InvalidRequest,
                "code_challenge_method must be S256 (plain is not supported)",
            ));
        }
        (Some(_), Some(_)) => {
            return Err(fail(
                ErrorCode::InvalidRequest,
                "code_challenge_method must be S256",
            ));
        }
    }
    if let Some(challenge) = &code_challenge
        && (challenge.len() != 43
            || !challenge
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    {
        return Err(fail(
            ErrorCode::InvalidRequest,
            "code_challenge must be a base64url SHA-256 (43 characters)",
        ));
    }

    let (mut prompt_none, mut prompt_login, mut prompt_consent) = (false, false, false);
    let prompts: Vec<&str> = params
        .get("prompt")
        .map(|p| p.split(' ').filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    for p in &prompts {
        match *p {
            "none" => prompt_none = true,
            "login" => prompt_login = true,
            "consent" => prompt_consent = true,
            "select_account" => {}
            _ => return Err(fail(ErrorCode::InvalidRequest, "unknown prompt value")),
        }
    }
    if prompt_none && prompts.len() > 1 {
        return Err(fail(
            ErrorCode::InvalidRequest,
            "prompt=none cannot be combined with other values",
        ));
    }
    let max_age = match params.get("max_age") {
        None => None,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n),
            _ => {
                return Err(fail(
                    ErrorCode::InvalidRequest,
                    "max_age must be a non-negative integer",
                ));
            }
        },
    };
    let text = |name: &str| params.get(name).filter(|v| !v.is_empty()).cloned();
    let id_token_hint = text("id_token_hint");
    if id_token_hint.as_deref().is_some_and(|h| !jwt_characters(h)) {
        return Err(fail(ErrorCode::InvalidRequest, NOT_OUR_ID_TOKEN));
    }
    let (acr_values, acr_essential) = match acr_asked(params) {
        Ok(asked) => asked,
        Err(reason) => return Err(fail(ErrorCode::InvalidRequest, reason)),
    };
    if acr_values.len() > MAX_ACR_VALUES {
        return Err(fail(
            ErrorCode::InvalidRequest,
            &format!("at most {MAX_ACR_VALUES} acr values may be asked for"),
        ));
    }
    Ok(AuthorizationRequest {
        client_id: client.client_id.clone(),
        redirect_uri,
        response_mode,
        scope,
        state,
        nonce: text("nonce"),
        code_challenge,
        prompt_none,
        prompt_login,
        prompt_consent,
        max_age,
        login_hint: text("login_hint"),
        ui_locales: text("ui_locales"),
        id_token_hint,
        lang: None,
        acr_values,
        acr_essential,
        hinted_subject: None,
    })
}

/// The `acr` values a request asks for and whether as essential: the `acr` claim of the ID token
/// in `claims` when it names one, else `acr_values` (voluntary).
fn acr_asked(params: &Params) -> Result<(Vec<String>, bool), &'static str> {
    let words = |s: &str| -> Vec<String> {
        s.split(' ')
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .collect()
    };
    let from_claims = match params.get("claims").filter(|c| !c.is_empty()) {
        None => None,
        Some(claims) => {
            let claims: serde_json::Value =
                serde_json::from_str(claims).map_err(|_| "claims is not a JSON object")?;
            if !claims.is_object() {
                return Err("claims is not a JSON object");
            }
            claims.pointer("/id_token/acr").cloned()
        }
    };
    if let Some(acr) = from_claims.filter(|a| !a.is_null()) {
        let essential = acr.get("essential").and_then(serde_json::Value::as_bool) == Some(true);
        let mut values: Vec<String> = Vec::new();
        if let Some(value) = acr.get("value").and_then(serde_json::Value::as_str) {
            values.push(value.to_string());
        }
        if let Some(list) = acr.get("values").and_then(serde_json::Value::as_array) {
            values.extend(list.iter().filter_map(|v| v.as_str()).map(str::to_string));
        }
        if !values.is_empty() {
            return Ok((values, essential));
        }
    }
    Ok((
        params
            .get("acr_values")
            .map(|v| words(v))
            .unwrap_or_default(),
        false,
    ))
}
