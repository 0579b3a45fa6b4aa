//! What a public (`https://`) server refuses besides the development key (`main_file.rs`): the
//! demo's published logins and client secrets, and mail in clear to another host. Each problem
//! names its file (or environment variable) and key; a server on `http://localhost` is spared.
#![expect(
    clippy::result_large_err,
    reason = "figment::Jail fixes the closure type"
)]

use std::path::Path;

use figment::Jail;

use super::jail::{MAIN, jail_with, loaded};
use crate::config::testing::TENANT;
use crate::config::*;

/// A key-encryption key, so that only the rule under test speaks.
const KEK: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

/// What `unsafe_for_production` says of the jail's configuration, one line each.
fn unsafe_settings() -> Vec<String> {
    loaded()
        .unsafe_for_production()
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// Runs `test` with `tenant` as the Seinäjoki file, a key-encryption key set, then again with
/// the public URL `http://localhost:8080/`, where nothing may be unsafe.
fn on_public_and_local(tenant: &str, test: impl Fn(&mut Jail) -> figment::Result<()>) {
    jail_with(tenant, |jail| {
        jail.set_env("IDP__KEYS__ENCRYPTION_KEY", KEK);
        test(jail)?;
        jail.set_env("IDP__SERVER__PUBLIC_URL", "http://localhost:8080/");
        assert_eq!(unsafe_settings(), Vec::<String>::new(), "on localhost");
        Ok(())
    });
}

#[test]
fn the_fixture_is_safe_for_production() {
    jail_with(TENANT, |jail| {
        jail.set_env("IDP__KEYS__ENCRYPTION_KEY", KEK);
        assert_eq!(unsafe_settings(), Vec::<String>::new());
        Ok(())
    });
}

#[test]
fn a_public_server_refuses_a_tenant_without_its_privacy_notice() {
    let tenant = TENANT.replace("privacy_url = \"https://www.example.fi/tietosuoja\"\n", "");
    assert_ne!(tenant, TENANT);
    on_public_and_local(&tenant, |_| {
        assert_eq!(
            unsafe_settings(),
            [
                "tenants/seinajoki.toml: privacy_url: is not set, and the public URL is https://: the foot of every page and every mail links the city's privacy notice (tietosuojaseloste, GDPR Art. 13), and residents would have none; set privacy_url to the address where the city publishes it"
            ]
        );
        Ok(())
    });
}

#[test]
fn a_public_server_refuses_an_export_imported_at_start() {
    let tenant = format!("{TENANT}\n[legacy]\nimport_at_start = \"export.csv\"\n");
    on_public_and_local(&tenant, |jail| {
        jail.create_file("export.csv", "username\nmatti\n")?;
        assert_eq!(
            unsafe_settings(),
            [
                "tenants/seinajoki.toml: legacy.import_at_start: is for demo configurations, and the public URL is https://: export.csv would be imported again at every start of every node (the demo exports' accounts and password are published in README.md); remove the key and import the city's export with idp import-legacy (docs/migration.md)"
            ]
        );
        Ok(())
    });
}

#[test]
fn a_public_server_refuses_plain_and_demo_client_secrets() {
    let demo_hash = "DFE917587AB6D3A87BE76B8BB396B3EC0B63A805F8CEFE3BFDFAC120A3C45531";
    let tenant = format!(
        "{TENANT}
[[clients]]
client_id = \"plain\"
client_secret = \"a long secret, but in the file itself\"
redirect_uris = [\"https://rp.example.fi/plain\"]

[[clients]]
client_id = \"demo-hash\"
client_secret_sha256 = \"{demo_hash}\"
redirect_uris = [\"https://rp.example.fi/demo\"]

[[clients]]
client_id = \"rotated-from-demo\"
client_secret_sha256 = \"{}\"
previous_client_secret_sha256 = \"{demo_hash}\"
previous_secret_expires = \"2027-01-31T12:00:00+02:00\"
redirect_uris = [\"https://rp.example.fi/rotated\"]
",
        "0".repeat(64)
    );
    on_public_and_local(&tenant, |_| {
        assert_eq!(
            unsafe_settings(),
            [
                "tenants/seinajoki.toml: clients[1].client_secret: is in plain text, and the public URL is https://: give client_secret_sha256 instead, the SHA-256 of a secret of 32 random bytes or more (openssl rand -base64 32; docs/configuration.md)",
                "tenants/seinajoki.toml: clients[2].client_secret_sha256: is the SHA-256 of the demo secret \"demo-secret-seinajoki\" published in README.md, and the public URL is https://: give the SHA-256 of a secret of 32 random bytes or more (openssl rand -base64 32)",
                "tenants/seinajoki.toml: clients[3].previous_client_secret_sha256: is the SHA-256 of the demo secret \"demo-secret-seinajoki\" published in README.md, and the public URL is https://: anyone could authenticate as this client until previous_secret_expires; remove the previous_… keys (a secret everyone knows is replaced, not rotated)",
            ]
        );
        Ok(())
    });
}

#[test]
fn a_public_server_refuses_plain_http_redirects_but_a_native_apps_to_127_0_0_1() {
    let hash = "0".repeat(64);
    let tenant = format!(
        "{TENANT}
[[clients]]
client_id = \"server\"
client_secret_sha256 = \"{hash}\"
redirect_uris = [\"https://rp.example.fi/cb\", \"http://localhost:8081/callback\", \"http://127.0.0.1:9/cb\"]

[[clients]]
client_id = \"app\"
token_endpoint_auth_method = \"none\"
redirect_uris = [\"http://127.0.0.1/cb\", \"http://localhost/cb\", \"fi.seinajoki.app:/cb\"]

[[clients]]
client_id = \"spa\"
token_endpoint_auth_method = \"none\"
redirect_uris = [\"https://asiointi.example.fi/\"]
web_origins = [\"https://asiointi.example.fi\", \"http://localhost:5173\"]
onward_origins = [\"https://palvelu.example.fi\", \"http://localhost:5174\"]
"
    );
    on_public_and_local(&tenant, |_| {
        assert_eq!(
            unsafe_settings(),
            [
                "tenants/seinajoki.toml: clients[1].redirect_uris[1]: \"http://localhost:8081/callback\" is http://, and the public URL is https://: an e-service's server takes its codes at an https:// URI (RFC 9700 §2.6); only a native app (token_endpoint_auth_method = \"none\") may use http://127.0.0.1",
                "tenants/seinajoki.toml: clients[1].redirect_uris[2]: \"http://127.0.0.1:9/cb\" is http://, and the public URL is https://: an e-service's server takes its codes at an https:// URI (RFC 9700 §2.6); only a native app (token_endpoint_auth_method = \"none\") may use http://127.0.0.1",
                "tenants/seinajoki.toml: clients[2].redirect_uris[1]: \"http://localhost/cb\" names localhost, and the public URL is https://: a native app's redirect names its loopback address, http://127.0.0.1 (RFC 8252 §8.3: a name can resolve elsewhere)",
                "tenants/seinajoki.toml: clients[3].web_origins[1]: \"http://localhost:5173\" is http://, and the public URL is https://: a page served without TLS must not hold a resident's tokens; give the e-service's https:// origin",
                "tenants/seinajoki.toml: clients[3].onward_origins[1]: \"http://localhost:5174\" is http://, and the public URL is https://: the resident would arrive from the login at a page without TLS; give the e-service's https:// origin",
            ]
        );
        Ok(())
    });
}

#[test]
fn a_public_server_refuses_unencrypted_mail_to_another_host_unless_allowed() {
    let smtp = |host: &str| {
        MAIN.replace(
            "transport = \"file\"\ndir = \"mail\"",
            &format!("transport = \"smtp\"\nhost = \"{host}\"\ntls = \"none\""),
        )
    };
    let refused = |source: &str, host: &str| {
        vec![format!(
            "{source}: mail.tls: is \"none\" towards mail.host {host}, which is not this host, and the public URL is https://: the mails' links (and a relay password) would cross the network unencrypted; use \"starttls\" or \"tls\", or set mail.allow_remote_plaintext = true (IDP__MAIL__ALLOW_REMOTE_PLAINTEXT) for a relay on a network you trust"
        )]
    };
    on_public_and_local(TENANT, |jail| {
        jail.create_file("idp.toml", &smtp("smtp.example.fi"))?;
        assert_eq!(unsafe_settings(), refused("idp.toml", "smtp.example.fi"));
        // The same host over TLS, or a relay on this host in clear, is safe.
        jail.set_env("IDP__MAIL__TLS", "starttls");
        assert_eq!(unsafe_settings(), Vec::<String>::new());
        jail.set_env("IDP__MAIL__TLS", "none");
        assert_eq!(
            unsafe_settings(),
            refused("environment variable IDP__MAIL__TLS", "smtp.example.fi")
        );
        for host in ["localhost", "LocalHost", "127.0.0.1", "127.0.0.53", "::1"] {
            jail.create_file("idp.toml", &smtp(host))?;
            assert_eq!(unsafe_settings(), Vec::<String>::new(), "{host}");
        }
        for host in ["10.0.0.25", "fd00::25", "localhost.example.fi", "mailrelay"] {
            jail.create_file("idp.toml", &smtp(host))?;
            assert_eq!(
                unsafe_settings(),
                refused("environment variable IDP__MAIL__TLS", host),
                "{host}"
            );
        }
        // The operator's explicit choice, in the file or the environment.
        jail.create_file(
            "idp.toml",
            &smtp("mailrelay").replace(
                "tls = \"none\"",
                "tls = \"none\"\nallow_remote_plaintext = true",
            ),
        )?;
        assert!(loaded().settings.mail.allow_remote_plaintext);
        assert_eq!(unsafe_settings(), Vec::<String>::new());
        jail.create_file("idp.toml", &smtp("mailrelay"))?;
        jail.set_env("IDP__MAIL__ALLOW_REMOTE_PLAINTEXT", "true");
        assert_eq!(unsafe_settings(), Vec::<String>::new());
        jail.set_env("IDP__MAIL__ALLOW_REMOTE_PLAINTEXT", "false");
        jail.create_file("idp.toml", &smtp("mailrelay"))?;
        Ok(())
    });
}

#[test]
fn the_demo_secrets_are_those_of_the_demo_files() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    Jail::expect_with(|jail| {
        std::env::set_current_dir(root).map_err(|e| e.to_string())?;
        jail.clear_env();
        let config = load(Path::new(DEFAULT_PATH)).map_err(|e| e.to_string())?;
        let mut secrets: Vec<String> = config
            .tenants
            .values()
            .flat_map(|tenant| &tenant.clients)
            .filter_map(|client| client.client_secret.as_ref())
            .map(|secret| secrecy::ExposeSecret::expose_secret(secret).to_string())
            .collect();
        secrets.sort();
        let mut known = crate::config::validate::DEMO_CLIENT_SECRETS
            .map(String::from)
            .to_vec();
        known.sort();
        assert_eq!(secrets, known);
        Ok(())
    });
}
