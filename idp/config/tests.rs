//! Tests of loading, overriding and rejecting configuration files.
#![expect(
    clippy::result_large_err,
    reason = "figment::Jail fixes the closure type"
)]

use std::path::Path;

use figment::Jail;
use secrecy::ExposeSecret;

use super::*;

const MAIN: &str = r#"
[server]
bind = "127.0.0.1:8080"
public_url = "https://login.example.fi/"

[database]
url = "sqlite://data/idp.sqlite"

[mail]
transport = "file"
dir = "mail"
from = "Kaupunki <no-reply@example.fi>"

[tenants]
dir = "tenants"
"#;

const TENANT: &str = r#"
id = "seinajoki"
name = "Seinäjoen kaupunki"
policy = "keep-password"

[[clients]]
client_id = "demo"
client_secret = "s3cret"
redirect_uris = ["https://rp.example.fi/callback"]
"#;

fn jail_with(tenant: &str, test: impl FnOnce(&mut Jail) -> figment::Result<()>) {
    Jail::expect_with(|jail| {
        jail.create_file("idp.toml", MAIN)?;
        std::fs::create_dir("tenants").map_err(|e| e.to_string())?;
        jail.create_file("tenants/seinajoki.toml", tenant)?;
        test(jail)
    });
}

fn problems(path: &str) -> Vec<String> {
    load(Path::new(path))
        .expect_err("the configuration should be refused")
        .0
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn the_demo_configuration_loads() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    Jail::expect_with(|jail| {
        // Relative paths in the demo file are relative to the project root.
        std::env::set_current_dir(root).map_err(|e| e.to_string())?;
        jail.clear_env();
        let config = load(Path::new(DEFAULT_PATH)).map_err(|e| e.to_string())?;
        assert_eq!(
            config.tenants.keys().collect::<Vec<_>>(),
            ["kouvola", "seinajoki"]
        );
        let seinajoki = config.tenant("seinajoki").unwrap();
        assert_eq!(seinajoki.policy, Policy::KeepPassword);
        assert_eq!(config.tenant("kouvola").unwrap().policy, Policy::EmailLink);
        assert_eq!(config.issuer(seinajoki), "http://localhost:8080/seinajoki");
        assert!(
            seinajoki
                .notice
                .fi
                .as_deref()
                .unwrap()
                .starts_with("Kirjautumisjärjestelmä on hiljattain muuttunut.")
        );
        assert_eq!(seinajoki.clients.len(), 1);
        Ok(())
    });
}

#[test]
fn defaults_and_issuer() {
    jail_with(TENANT, |_| {
        let config = load(Path::new("idp.toml")).unwrap();
        let tenant = config.tenant("seinajoki").unwrap();
        assert_eq!(config.issuer(tenant), "https://login.example.fi/seinajoki");
        assert_eq!(tenant.languages, [Language::Fi, Language::Sv, Language::En]);
        assert!(!tenant.reveal_unknown_identifier);
        let client = tenant.client("demo").unwrap();
        assert_eq!(
            client.token_endpoint_auth_method,
            AuthMethod::ClientSecretBasic
        );
        assert_eq!(
            client.grant_types,
            [GrantType::AuthorizationCode, GrantType::RefreshToken]
        );
        assert_eq!(client.id_token_signed_response_alg, SigningAlg::RS256);
        assert!(!client.first_party);
        assert_eq!(config.settings.log.format, LogFormat::Text);
        assert_eq!(config.settings.server.shutdown_timeout_seconds, 30);
        Ok(())
    });
}

#[test]
fn environment_overrides_keys() {
    jail_with(TENANT, |jail| {
        jail.set_env("IDP__SERVER__BIND", "127.0.0.1:0");
        jail.set_env("IDP__DATABASE__URL", "postgres://idp@localhost/idp");
        jail.set_env("IDP__DATABASE__MAX_CONNECTIONS", "3");
        jail.set_env("IDP__LOG__FORMAT", "json");
        let config = load(Path::new("idp.toml")).unwrap();
        assert_eq!(config.settings.server.bind.to_string(), "127.0.0.1:0");
        assert_eq!(
            config.settings.database.url.expose_secret(),
            "postgres://idp@localhost/idp"
        );
        assert_eq!(
            config.settings.database.backend(),
            Ok(DatabaseBackend::Postgres(
                "postgres://idp@localhost/idp?gssencmode=disable".into()
            ))
        );
        assert_eq!(config.settings.database.max_connections, 3);
        assert_eq!(config.settings.log.format, LogFormat::Json);
        Ok(())
    });
}

#[test]
fn a_postgres_url_keeps_its_own_gssencmode() {
    let settings = |url: &str| DatabaseSettings {
        url: url.to_string().into(),
        max_connections: 1,
        sqlite_synchronous: Default::default(),
    };
    assert_eq!(
        settings("postgres://db/idp?sslmode=require").backend(),
        Ok(DatabaseBackend::Postgres(
            "postgres://db/idp?sslmode=require&gssencmode=disable".into()
        ))
    );
    assert_eq!(
        settings("postgres://db/idp?gssencmode=prefer").backend(),
        Ok(DatabaseBackend::Postgres(
            "postgres://db/idp?gssencmode=prefer".into()
        ))
    );
}

#[test]
fn a_bad_override_names_the_variable() {
    jail_with(TENANT, |jail| {
        jail.set_env("IDP__SERVER__BIND", "not an address");
        jail.set_env("IDP__DATABASE__URL", "mysql://x");
        assert_eq!(
            problems("idp.toml"),
            ["environment variable IDP__SERVER__BIND: server.bind: invalid socket address syntax",]
        );
        jail.set_env("IDP__SERVER__BIND", "127.0.0.1:0");
        assert_eq!(
            problems("idp.toml"),
            [
                "environment variable IDP__DATABASE__URL: database.url: must start with sqlite:// or postgres://",
            ]
        );
        Ok(())
    });
}

#[test]
fn unknown_and_mistyped_keys_of_the_main_file_are_all_named() {
    jail_with(TENANT, |jail| {
        jail.create_file(
            "idp.toml",
            &MAIN
                .replace("[tenants]", "[tenants]\ndirectory = \"x\"")
                .replace(
                    "transport = \"file\"",
                    "transport = \"pigeon\"\nport = \"x\"",
                ),
        )?;
        let found = problems("idp.toml");
        assert_eq!(found.len(), 3, "{found:#?}");
        assert!(
            found[0].starts_with("idp.toml: mail.port: invalid type: string \"x\""),
            "{found:#?}"
        );
        assert!(
            found[1].starts_with("idp.toml: mail.transport: unknown variant `pigeon`"),
            "{found:#?}"
        );
        assert!(
            found[2].starts_with("idp.toml: tenants.directory: unknown field `directory`"),
            "{found:#?}"
        );
        Ok(())
    });
}

#[test]
fn a_syntax_error_gives_line_and_column() {
    jail_with(TENANT, |jail| {
        jail.create_file("tenants/seinajoki.toml", "id = \"seinajoki\"\nname = \n")?;
        let found = problems("idp.toml");
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0].starts_with("tenants/seinajoki.toml: line 2, column 8: "),
            "{found:#?}"
        );
        Ok(())
    });
}

#[test]
fn every_problem_of_a_broken_tenant_file_is_named() {
    let broken = r#"
id = "seinajoki"
name = "Seinäjoen kaupunki"
policy = "keep-passwords"
languages = ["fi", "de"]
colour = "blue"

[support]
email = "not-an-address"

[[clients]]
client_id = "demo"
redirect_uris = ["https://rp.example.fi/callback"]
secret = "x"
"#;
    jail_with(broken, |_| {
        assert_eq!(
            problems("idp.toml"),
            [
                "tenants/seinajoki.toml: policy: unknown variant `keep-passwords`, expected `keep-password` or `email-link`",
                "tenants/seinajoki.toml: languages[1]: unknown variant `de`, expected one of `fi`, `sv`, `en`",
                "tenants/seinajoki.toml: colour: unknown field `colour`, expected one of `id`, `name`, `policy`, `languages`, `help_url`, `reveal_unknown_identifier`, `support`, `notice`, `branding`, `sessions`, `passwords`, `legacy`, `mail_limits`, `clients`",
                "tenants/seinajoki.toml: clients[0].secret: unknown field `secret`, expected one of `client_id`, `name`, `client_secret`, `client_secret_sha256`, `redirect_uris`, `post_logout_redirect_uris`, `backchannel_logout_uri`, `grant_types`, `token_endpoint_auth_method`, `first_party`, `id_token_signed_response_alg`, `jwks_uri`",
            ]
        );
        Ok(())
    });
}

#[test]
fn semantic_problems_of_clients_are_all_named() {
    let broken = r#"
id = "seinajoki"
name = "Seinäjoen kaupunki"
policy = "email-link"

[support]
email = "not-an-address"

[[clients]]
client_id = "a"
redirect_uris = ["http://rp.example.fi/callback", "/relative", "https://rp.example.fi/cb#frag"]

[[clients]]
client_id = "a"
client_secret_sha256 = "abc"
token_endpoint_auth_method = "none"
grant_types = ["client_credentials"]
backchannel_logout_uri = "ftp://rp.example.fi/logout"
"#;
    jail_with(broken, |_| {
        assert_eq!(
            problems("idp.toml"),
            [
                "tenants/seinajoki.toml: support.email: \"not-an-address\" is not a mail address",
                "tenants/seinajoki.toml: clients[0].client_secret: is required by this token_endpoint_auth_method (or give client_secret_sha256)",
                "tenants/seinajoki.toml: clients[0].redirect_uris[0]: \"http://rp.example.fi/callback\" must be https:// (http:// only for localhost)",
                "tenants/seinajoki.toml: clients[0].redirect_uris[1]: \"/relative\" is not an absolute URI: relative URL without a base",
                "tenants/seinajoki.toml: clients[0].redirect_uris[2]: \"https://rp.example.fi/cb#frag\" must not have a fragment",
                "tenants/seinajoki.toml: clients[1].client_id: \"a\" is used by another client of this tenant",
                "tenants/seinajoki.toml: clients[1].client_secret_sha256: must be 64 hexadecimal digits (the SHA-256 of the secret)",
                "tenants/seinajoki.toml: clients[1].client_secret: must not be set for this token_endpoint_auth_method",
                "tenants/seinajoki.toml: clients[1].grant_types: client_credentials needs an authenticated client, not token_endpoint_auth_method = \"none\"",
                "tenants/seinajoki.toml: clients[1].backchannel_logout_uri: \"ftp://rp.example.fi/logout\" must be https:// (http:// only for localhost)",
            ]
        );
        Ok(())
    });
}

#[test]
fn tenant_id_must_match_its_file_and_be_unique() {
    jail_with(TENANT, |jail| {
        jail.create_file("tenants/kouvola.toml", TENANT)?;
        jail.create_file(
            "tenants/Bad.toml",
            &TENANT.replace("\"seinajoki\"", "\"Bad\""),
        )?;
        assert_eq!(
            problems("idp.toml"),
            [
                "tenants/Bad.toml: id: \"Bad\" is not a tenant id: use 1–63 lowercase letters a–z, digits and '-'",
                "tenants/kouvola.toml: id: \"seinajoki\" differs from the file name: name the file seinajoki.toml",
                "tenants/seinajoki.toml: id: tenant id \"seinajoki\" is used by another file too",
            ]
        );
        Ok(())
    });
}

#[test]
fn missing_files_are_named() {
    jail_with(TENANT, |jail| {
        assert_eq!(problems("nowhere.toml").len(), 1);
        assert!(problems("nowhere.toml")[0].starts_with("nowhere.toml: cannot read: "));
        jail.set_env("IDP__TENANTS__DIR", "empty");
        std::fs::create_dir("empty").map_err(|e| e.to_string())?;
        assert_eq!(
            problems("idp.toml"),
            [
                "environment variable IDP__TENANTS__DIR: tenants.dir: no tenant files (*.toml) in empty"
            ]
        );
        Ok(())
    });
}

#[test]
fn smtp_needs_its_keys_and_a_set_password_variable() {
    jail_with(TENANT, |jail| {
        jail.set_env("IDP__MAIL__TRANSPORT", "smtp");
        jail.set_env("IDP__MAIL__USERNAME", "idp");
        jail.set_env("IDP__MAIL__PASSWORD_ENV", "IDP_TEST_SMTP_PASSWORD_UNSET");
        assert_eq!(
            problems("idp.toml"),
            [
                "idp.toml: mail.host: is required when mail.transport = \"smtp\"",
                "environment variable IDP__MAIL__PASSWORD_ENV: mail.password_env: the environment variable IDP_TEST_SMTP_PASSWORD_UNSET is not set",
            ]
        );
        jail.set_env("IDP__MAIL__HOST", "smtp.example.fi");
        jail.set_env("IDP_TEST_SMTP_PASSWORD_UNSET", "x");
        let config = load(Path::new("idp.toml")).unwrap();
        assert_eq!(config.settings.mail.tls, SmtpTls::Starttls);
        Ok(())
    });
}

#[test]
fn a_brand_colour_must_contrast_with_white() {
    let tenant = format!("{TENANT}\n[branding]\ncolor = \"#7fb3d5\"\n");
    jail_with(&tenant, |_| {
        assert_eq!(
            problems("idp.toml"),
            [
                "tenants/seinajoki.toml: branding.color: \"#7fb3d5\" contrasts 2.3:1 with white; WCAG AA needs 4.5:1"
            ]
        );
        Ok(())
    });
    assert!(contrast_with_white("#0b4f8a").unwrap() > 8.0);
    assert_eq!(contrast_with_white("blue"), None);
}

#[test]
fn mail_limits_default_and_are_checked() {
    jail_with(TENANT, |_| {
        let config = load(Path::new("idp.toml")).expect("loads");
        let limits = &config.tenants["seinajoki"].mail_limits;
        assert_eq!(
            (
                limits.per_address,
                limits.per_address_minutes,
                limits.per_client_address,
                limits.per_client_address_minutes
            ),
            (3, 15, 20, 60)
        );
        Ok(())
    });
    let broken =
        format!("{TENANT}\n[mail_limits]\nper_address = 0\nper_client_address_minutes = 1441\n");
    jail_with(&broken, |_| {
        assert_eq!(
            problems("idp.toml"),
            [
                "tenants/seinajoki.toml: mail_limits.per_address: must be between 1 and 10000",
                "tenants/seinajoki.toml: mail_limits.per_client_address_minutes: must be between 1 and 1440 minutes (a day)",
            ]
        );
        Ok(())
    });
}

#[test]
fn a_public_server_refuses_the_development_key_unless_allowed() {
    jail_with(TENANT, |jail| {
        let config = load(Path::new("idp.toml")).unwrap();
        let problems: Vec<String> = config
            .unsafe_for_production()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            problems,
            [
                "idp.toml: keys.encryption_key: is not set, and the public URL is https://: signing keys would be encrypted with the development key in data/key-encryption-key.dev; set keys.encryption_key (IDP__KEYS__ENCRYPTION_KEY) to 32 random bytes in base64, or set keys.allow_development_key = true (IDP__KEYS__ALLOW_DEVELOPMENT_KEY) to run on the development key all the same"
            ]
        );

        // The override, in the environment or in the file.
        jail.set_env("IDP__KEYS__ALLOW_DEVELOPMENT_KEY", "true");
        let config = load(Path::new("idp.toml")).unwrap();
        assert!(config.settings.keys.allow_development_key);
        assert_eq!(config.unsafe_for_production(), []);
        jail.clear_env();
        jail.create_file(
            "idp.toml",
            &format!("{MAIN}\n[keys]\nallow_development_key = true\n"),
        )?;
        assert_eq!(
            load(Path::new("idp.toml")).unwrap().unsafe_for_production(),
            []
        );

        // A real key, and a development server on localhost, need no override.
        jail.create_file(
            "idp.toml",
            &format!(
                "{MAIN}\n[keys]\nencryption_key = \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"\n"
            ),
        )?;
        assert_eq!(
            load(Path::new("idp.toml")).unwrap().unsafe_for_production(),
            []
        );
        jail.create_file(
            "idp.toml",
            &MAIN.replace("https://login.example.fi/", "http://localhost:8080/"),
        )?;
        assert_eq!(
            load(Path::new("idp.toml")).unwrap().unsafe_for_production(),
            []
        );
        Ok(())
    });
}
