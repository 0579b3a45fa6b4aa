//! Property tests of the protocol parsers: the authorization request and client assertions.
//! Arbitrary input never panics; a valid request is accepted and carries what was sent.

use std::collections::HashMap;

use chrono::DateTime;
use proptest::prelude::*;

use super::assertion;
use super::error::ErrorCode;
use super::request::{self, AuthorizationRequest, RequestError, ResponseMode};
use crate::config::TenantConfig;
use crate::config::testing::TENANT;

/// A public client, added to the shared test tenant and its confidential client `demo`.
const PUBLIC_CLIENT: &str = r#"
[[clients]]
client_id = "public"
redirect_uris = ["https://public.example.fi/callback"]
token_endpoint_auth_method = "none"
"#;

fn tenant() -> TenantConfig {
    toml::from_str(&format!("{TENANT}{PUBLIC_CLIENT}")).unwrap()
}

/// A value: often one that means something to the parser, otherwise anything.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("demo".to_string()),
        Just("public".to_string()),
        Just("https://rp.example.fi/callback".to_string()),
        Just("code".to_string()),
        Just("openid profile email".to_string()),
        Just("S256".to_string()),
        Just("none login".to_string()),
        Just("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_string()),
        "-?[0-9]{1,25}",
        "\\PC{0,40}",
        any::<String>(),
    ]
}

fn params() -> impl Strategy<Value = HashMap<String, String>> {
    proptest::collection::hash_map(
        prop_oneof![
            proptest::sample::select(&request::PARAMETERS[..]).prop_map(str::to_string),
            "\\PC{0,8}"
        ],
        value(),
        0..12,
    )
}

proptest! {
    /// Whatever the parameters: no panic; an accepted request names a client of the tenant, one
    /// of its redirect URIs exactly, and contains `openid`.
    #[test]
    fn any_authorization_request(params in params()) {
        let tenant = tenant();
        if let Ok(accepted) = request::parse(&tenant, &params) {
            let client = tenant.client(&accepted.client_id);
            prop_assert!(client.is_some());
            prop_assert!(client.is_some_and(|c| c.redirect_uris.contains(&accepted.redirect_uri)));
            prop_assert!(accepted.scope.iter().any(|s| s == "openid"));
            prop_assert!(accepted.max_age.is_none_or(|m| m >= 0));
        }
    }

    /// A valid request is accepted and carries what was sent: `state` byte for byte, the nonce,
    /// the challenge, `max_age`, the hints.
    #[test]
    fn a_valid_request_is_accepted_as_sent(
        state in proptest::option::of(any::<String>()),
        nonce in "[A-Za-z0-9_-]{1,40}",
        challenge in "[A-Za-z0-9_-]{43}",
        max_age in proptest::option::of(0..i64::MAX),
        login_hint in proptest::option::of("\\PC{1,40}"),
        form_post in any::<bool>(),
    ) {
        let mut params: HashMap<String, String> = [
            ("client_id", "public"),
            ("redirect_uri", "https://public.example.fi/callback"),
            ("response_type", "code"),
            ("scope", "openid email"),
            ("code_challenge_method", "S256"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        params.insert("nonce".into(), nonce.clone());
        params.insert("code_challenge".into(), challenge.clone());
        if let Some(state) = &state {
            params.insert("state".into(), state.clone());
        }
        if let Some(max_age) = max_age {
            params.insert("max_age".into(), max_age.to_string());
        }
        if let Some(hint) = &login_hint {
            params.insert("login_hint".into(), hint.clone());
        }
        if form_post {
            params.insert("response_mode".into(), "form_post".into());
        }
        let accepted = request::parse(&tenant(), &params);
        prop_assert_eq!(
            accepted.ok(),
            Some(AuthorizationRequest {
                client_id: "public".into(),
                redirect_uri: "https://public.example.fi/callback".into(),
                response_mode: if form_post { ResponseMode::FormPost } else { ResponseMode::Query },
                scope: vec!["openid".into(), "email".into()],
                state,
                nonce: Some(nonce),
                code_challenge: Some(challenge),
                prompt_none: false,
                prompt_login: false,
                prompt_consent: false,
                max_age,
                login_hint: login_hint.filter(|h| !h.is_empty()),
                ui_locales: None,
                id_token_hint: None,
                lang: None,
                acr_values: Vec::new(),
                acr_essential: false,
                hinted_subject: None,
            })
        );
    }

    /// A parameter outside `request::PARAMETERS` changes nothing, which is why a pushed request
    /// keeps only those.
    #[test]
    fn a_parameter_not_read_changes_nothing(
        params in params(),
        name in "\\PC{0,12}",
        value in any::<String>(),
    ) {
        prop_assume!(!request::PARAMETERS.contains(&name.as_str()) && name != "request_uri");
        let tenant = tenant();
        let mut more = params.clone();
        more.insert(name, value);
        prop_assert_eq!(request::parse(&tenant, &more), request::parse(&tenant, &params));
    }

    /// A value over its limit is `invalid_request` with the limit named, sent to the client
    /// without the state when the state is the one too long; at its limit it is not refused for
    /// its length.
    #[test]
    fn a_value_over_its_limit_is_refused(
        which in 0..request::LIMITS.len(),
        fill in prop_oneof![Just('\u{1}'), Just(' '), Just('a'), Just('\u{e4}')],
        over in any::<bool>(),
    ) {
        let (name, limit) = request::LIMITS[which];
        let mut value: String = std::iter::repeat_n(fill, limit).collect();
        value.truncate(value.floor_char_boundary(limit));
        if over {
            value.push('a');
        }
        let mut params: HashMap<String, String> = [
            ("client_id", "demo"),
            ("redirect_uri", "https://rp.example.fi/callback"),
            ("response_type", "code"),
            ("scope", "openid"),
            ("state", "s"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        params.insert(name.to_string(), value);
        let longer = format!("{name} is longer than {limit} bytes");
        match request::parse(&tenant(), &params) {
            Err(RequestError::Redirect { state, error, .. }) if error.description == longer => {
                prop_assert!(over);
                prop_assert_eq!(error.code, ErrorCode::InvalidRequest);
                prop_assert_eq!(state.is_none(), name == "state");
            }
            _ => prop_assert!(!over),
        }
    }

    /// Any text as a client assertion: reading the claimed client and verifying never panic, and
    /// nothing unsigned is ever accepted.
    #[test]
    fn any_client_assertion(
        raw in prop_oneof![
            any::<String>(),
            "[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{0,80}\\.[A-Za-z0-9_-]{0,40}",
            (any::<String>(), any::<String>()).prop_map(|(header, claims)| {
                use base64::Engine;
                let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
                format!("{}.{}.", b64.encode(header), b64.encode(claims))
            }),
            "\\PC{0,20}".prop_map(|iss| {
                use base64::Engine;
                let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
                let header = b64.encode(r#"{"alg":"none"}"#);
                let claims = b64.encode(
                    serde_json::json!({"iss": iss, "sub": iss, "jti": "x", "exp": 4_102_444_800_i64})
                        .to_string(),
                );
                format!("{header}.{claims}.")
            }),
        ],
    ) {
        let claimed = assertion::claimed_client(&raw);
        let keys = jsonwebtoken::jwk::JwkSet { keys: Vec::new() };
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap().naive_utc();
        let verified = assertion::verify(
            &raw,
            claimed.as_deref().unwrap_or("demo"),
            &keys,
            assertion::Audiences::AnyOf(&["https://idp.example.fi/seinajoki".to_string()]),
            now,
        );
        prop_assert!(verified.is_err());
    }
}
