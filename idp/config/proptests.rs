//! Property tests of the configuration's parsing: any tenant file, however broken, gives a list
//! of problems and never a panic; a valid one with any well-formed client is accepted.

use std::path::Path;

use proptest::prelude::*;

use super::problems::deserialize_all;
use super::tenant::TenantConfig;
use super::validate;

const SEINAJOKI: &str = include_str!("../../config/tenants/seinajoki.toml");

/// The problems of a tenant file's text, as `load` finds them (`None`: not TOML at all).
fn problems(text: &str) -> Option<Vec<String>> {
    let value = toml::from_str::<toml::Value>(text).ok()?;
    Some(match deserialize_all::<TenantConfig>(value) {
        // The demo's files (its logo, its legacy export) are found from the project root, not the
        // working directory, which the `figment::Jail` tests in `tests/` change while this runs.
        Ok(tenant) => validate::tenant(
            &tenant,
            Path::new("tenants/seinajoki.toml"),
            Path::new(env!("CARGO_MANIFEST_DIR")),
        )
        .iter()
        .map(ToString::to_string)
        .collect(),
        Err(errors) => errors.into_iter().map(|e| e.message).collect(),
    })
}

/// A line of a tenant file: a known key with any value, or anything.
fn line() -> impl Strategy<Value = String> {
    let key = proptest::sample::select(vec![
        "id",
        "name",
        "policy",
        "languages",
        "brand_color",
        "min_password_chars",
        "reveal_unknown",
        "[[clients]]",
        "client_id",
        "redirect_uris",
        "grant_types",
        "token_endpoint_auth_method",
        "jwks_uri",
        "[support]",
    ]);
    let value = prop_oneof![
        "\"\\PC{0,20}\"",
        "-?[0-9]{1,30}",
        "(true|false)",
        "\\[(\"\\PC{0,10}\", ?){0,3}\\]",
        "\\PC{0,20}",
    ];
    prop_oneof![
        (key, value).prop_map(|(k, v)| if k.starts_with('[') {
            k.to_string()
        } else {
            format!("{k} = {v}")
        }),
        "\\PC{0,40}",
    ]
}

proptest! {
    /// Any text, and the demo tenant with any lines added: no panic.
    #[test]
    fn any_tenant_file(
        lines in proptest::collection::vec(line(), 0..12),
        on_demo in any::<bool>(),
    ) {
        let added = lines.join("\n");
        let text = if on_demo { format!("{SEINAJOKI}\n{added}") } else { added };
        let _ = problems(&text);
    }

    /// The demo tenant with a well-formed client of any id and redirect URI is accepted.
    #[test]
    fn a_valid_client_is_accepted(
        client_id in "[a-z][a-z0-9-]{0,30}",
        host in "[a-z]{1,12}\\.(fi|example)",
        path in "(/[a-z0-9]{1,8}){0,3}",
    ) {
        let text = format!(
            "{SEINAJOKI}\n[[clients]]\nclient_id = \"x-{client_id}\"\nclient_secret = \"a long enough secret\"\nredirect_uris = [\"https://{host}{path}/callback\"]\n"
        );
        prop_assert_eq!(problems(&text), Some(Vec::new()));
    }
}
