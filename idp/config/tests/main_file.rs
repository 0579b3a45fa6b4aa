//! The main file: the demo configuration, defaults, `IDP__…` overrides, and its problems, each
//! named with the file or the environment variable it came from.
#![expect(
    clippy::result_large_err,
    reason = "figment::Jail fixes the closure type"
)]

use std::path::Path;

use figment::Jail;
use secrecy::ExposeSecret;

use super::jail::{MAIN, jail_with, loaded, problems, with_env};
use crate::config::testing::TENANT;
use crate::config::*;

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
        let config = loaded();
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
    let variables = [
        ("IDP__SERVER__BIND", "127.0.0.1:0"),
        ("IDP__DATABASE__URL", "postgres://idp@localhost/idp"),
        ("IDP__DATABASE__MAX_CONNECTIONS", "3"),
        ("IDP__LOG__FORMAT", "json"),
    ];
    with_env(&variables, |_| {
        let config = loaded();
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
    for (url, backend) in [
        (
            "postgres://db/idp?sslmode=require",
            "postgres://db/idp?sslmode=require&gssencmode=disable",
        ),
        (
            "postgres://db/idp?gssencmode=prefer",
            "postgres://db/idp?gssencmode=prefer",
        ),
    ] {
        let settings = DatabaseSettings {
            url: url.to_string().into(),
            max_connections: 1,
            sqlite_synchronous: Default::default(),
        };
        assert_eq!(
            settings.backend(),
            Ok(DatabaseBackend::Postgres(backend.into()))
        );
    }
}

#[test]
fn a_postgres_backend_never_shows_its_password() {
    let backend = DatabaseBackend::Postgres("postgres://idp:s3cret@db:5432/idp".into());
    let shown = format!("{backend:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    assert_eq!(shown, r#"Postgres("postgres://idp:REDACTED@db:5432/idp")"#);
}

#[test]
fn a_bad_override_names_the_variable() {
    let variables = [
        ("IDP__SERVER__BIND", "not an address"),
        ("IDP__DATABASE__URL", "mysql://x"),
    ];
    with_env(&variables, |jail| {
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
        for (problem, start) in found.iter().zip([
            "idp.toml: mail.port: invalid type: string \"x\"",
            "idp.toml: mail.transport: unknown variant `pigeon`",
            "idp.toml: tenants.directory: unknown field `directory`",
        ]) {
            assert!(problem.starts_with(start), "{found:#?}");
        }
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
    let variables = [
        ("IDP__MAIL__TRANSPORT", "smtp"),
        ("IDP__MAIL__USERNAME", "idp"),
        ("IDP__MAIL__PASSWORD_ENV", "IDP_TEST_SMTP_PASSWORD_UNSET"),
    ];
    with_env(&variables, |jail| {
        assert_eq!(
            problems("idp.toml"),
            ["idp.toml: mail.host: is required when mail.transport = \"smtp\""]
        );
        jail.set_env("IDP__MAIL__HOST", "smtp.example.fi");
        // The password's variable unset: the configuration loads (a backup, a support command
        // send no mail), and only serving (and check-config) refuse it.
        let unset: Vec<String> = loaded()
            .unset_for_serving()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            unset,
            [
                "environment variable IDP__MAIL__PASSWORD_ENV: mail.password_env: the environment variable IDP_TEST_SMTP_PASSWORD_UNSET is not set"
            ]
        );
        jail.set_env("IDP_TEST_SMTP_PASSWORD_UNSET", "x");
        assert!(loaded().unset_for_serving().is_empty());
        assert_eq!(loaded().settings.mail.tls, SmtpTls::Starttls);
        assert_eq!(loaded().settings.mail.timeout_seconds, 15);
        Ok(())
    });
}

#[test]
fn an_smtp_attempt_is_bounded_by_at_most_a_minute() {
    let variables = [
        ("IDP__MAIL__TRANSPORT", "smtp"),
        ("IDP__MAIL__HOST", "smtp.example.fi"),
    ];
    with_env(&variables, |jail| {
        for refused in ["0", "61"] {
            jail.set_env("IDP__MAIL__TIMEOUT_SECONDS", refused);
            assert_eq!(
                problems("idp.toml"),
                [
                    "environment variable IDP__MAIL__TIMEOUT_SECONDS: mail.timeout_seconds: must be between 1 and 60 seconds"
                ]
            );
        }
        jail.set_env("IDP__MAIL__TIMEOUT_SECONDS", "60");
        assert_eq!(loaded().settings.mail.timeout_seconds, 60);
        // A lease that a round of four slow attempts outlasts: a mail sent twice.
        jail.set_env("IDP__QUEUES__LEASE_SECONDS", "240");
        assert_eq!(
            problems("idp.toml"),
            [
                "environment variable IDP__QUEUES__LEASE_SECONDS: queues.lease_seconds: must outlast a round of 4 mails of mail.timeout_seconds each: more than 240"
            ]
        );
        jail.set_env("IDP__QUEUES__LEASE_SECONDS", "241");
        assert_eq!(loaded().settings.queues.lease_seconds, 241);
        Ok(())
    });
}

#[test]
fn a_public_server_refuses_the_development_key_unless_allowed() {
    let unsafe_settings = || -> Vec<String> {
        loaded()
            .unsafe_for_production()
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    jail_with(TENANT, |jail| {
        assert_eq!(
            unsafe_settings(),
            [
                "idp.toml: keys.encryption_key: is not set, and the public URL is https://: signing keys would be encrypted with the development key in data/key-encryption-key.dev; set keys.encryption_key (IDP__KEYS__ENCRYPTION_KEY) to 32 random bytes in base64, or set keys.allow_development_key = true (IDP__KEYS__ALLOW_DEVELOPMENT_KEY) to run on the development key all the same"
            ]
        );

        // The override, in the environment or in the file.
        jail.set_env("IDP__KEYS__ALLOW_DEVELOPMENT_KEY", "true");
        assert!(loaded().settings.keys.allow_development_key);
        assert_eq!(unsafe_settings(), Vec::<String>::new());
        jail.clear_env();
        // Then a real key, and a development server on localhost: none needs the override.
        for main in [
            format!("{MAIN}\n[keys]\nallow_development_key = true\n"),
            format!(
                "{MAIN}\n[keys]\nencryption_key = \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"\n"
            ),
            MAIN.replace("https://login.example.fi/", "http://localhost:8080/"),
        ] {
            jail.create_file("idp.toml", &main)?;
            assert_eq!(unsafe_settings(), Vec::<String>::new(), "{main}");
        }
        Ok(())
    });
}

#[test]
fn a_recipients_window_is_no_longer_than_a_mailed_link_works() {
    jail_with(
        &format!("{TENANT}\n[mail_limits]\nper_address_minutes = 61\n"),
        |jail| {
            assert_eq!(
                problems("idp.toml"),
                [
                    "tenants/seinajoki.toml: mail_limits.per_address_minutes: must not be longer than a mailed link works (tokens.link_seconds, 60 minutes): past the limit a resident's own reset is refused for the window, and the links that filled it must still let them in"
                ]
            );
            jail.set_env("IDP__TOKENS__LINK_SECONDS", "3660");
            assert_eq!(
                loaded().tenants["seinajoki"]
                    .mail_limits
                    .per_address_minutes,
                61
            );
            Ok(())
        },
    );
}

#[test]
fn session_locations_need_a_location_database_that_exists() {
    jail_with(
        &format!("{TENANT}\n[sessions]\nlocation = true\n"),
        |jail| {
            assert_eq!(
                problems("idp.toml"),
                [
                    "tenants/seinajoki.toml: sessions.location: needs server.geoip_database in the main file"
                ]
            );
            jail.set_env("IDP__SERVER__GEOIP_DATABASE", "geo/missing.mmdb");
            assert_eq!(
                problems("idp.toml"),
                [
                    "environment variable IDP__SERVER__GEOIP_DATABASE: server.geoip_database: geo/missing.mmdb is not a file"
                ]
            );
            jail.create_file("city.mmdb", "")?;
            jail.set_env("IDP__SERVER__GEOIP_DATABASE", "city.mmdb");
            assert!(loaded().tenants["seinajoki"].sessions.location);
            Ok(())
        },
    );
}

#[test]
fn telemetry_is_off_by_default_and_checked() {
    with_env(&[], |_| {
        let telemetry = loaded().settings.telemetry;
        assert!(telemetry.otlp_endpoint.is_none());
        assert_eq!(telemetry.service_name, "idp");
        Ok(())
    });
    with_env(
        &[
            ("IDP__TELEMETRY__OTLP_ENDPOINT", "grpc://collector:4317"),
            ("IDP__TELEMETRY__SAMPLE_RATIO", "1.5"),
        ],
        |_| {
            assert_eq!(
                problems("idp.toml"),
                [
                    "environment variable IDP__TELEMETRY__OTLP_ENDPOINT: telemetry.otlp_endpoint: must be an http:// or https:// URL (OTLP over HTTP)",
                    "environment variable IDP__TELEMETRY__SAMPLE_RATIO: telemetry.sample_ratio: must be between 0.0 and 1.0",
                ]
            );
            Ok(())
        },
    );
}

#[test]
fn metrics_are_off_unless_configured_and_never_on_the_public_port() {
    jail_with(TENANT, |jail| {
        assert!(loaded().settings.metrics.is_none());
        jail.create_file(
            "idp.toml",
            &format!("{MAIN}\n[metrics]\nbind = \"127.0.0.1:9464\"\n"),
        )?;
        let metrics = loaded().settings.metrics.unwrap();
        assert_eq!(metrics.bind.to_string(), "127.0.0.1:9464");
        assert_eq!(metrics.key_rotation_days, 90);

        for bind in ["127.0.0.1:8080", "0.0.0.0:8080"] {
            jail.create_file(
                "idp.toml",
                &format!("{MAIN}\n[metrics]\nbind = \"{bind}\"\n"),
            )?;
            assert_eq!(
                problems("idp.toml"),
                [
                    "idp.toml: metrics.bind: must not be the public listener's address (127.0.0.1:8080): the metrics are for the operators' network only"
                ]
            );
        }
        jail.create_file(
            "idp.toml",
            &format!("{MAIN}\n[metrics]\nbind = \"127.0.0.1:9464\"\nkey_rotation_days = 0\n"),
        )?;
        assert_eq!(
            problems("idp.toml"),
            ["idp.toml: metrics.key_rotation_days: must be from 1 to 3650"]
        );
        jail.create_file(
            "idp.toml",
            &format!("{MAIN}\n[metrics]\nbind = \"localhost\"\n"),
        )?;
        let refused = problems("idp.toml");
        assert!(
            refused.len() == 1 && refused[0].starts_with("idp.toml: metrics.bind: "),
            "{refused:?}"
        );
        jail.create_file("idp.toml", MAIN)?;
        jail.set_env("IDP__METRICS__BIND", "127.0.0.1:8080");
        assert_eq!(
            problems("idp.toml"),
            [
                "environment variable IDP__METRICS__BIND: metrics.bind: must not be the public listener's address (127.0.0.1:8080): the metrics are for the operators' network only"
            ]
        );
        Ok(())
    });
}

#[test]
fn the_limits_have_defaults_and_bounds() {
    let cases = [
        (
            "waiting_requests_per_address",
            100,
            10_000,
            "WAITING_REQUESTS_PER_ADDRESS",
        ),
        (
            "account_changes_per_hour",
            30,
            1000,
            "ACCOUNT_CHANGES_PER_HOUR",
        ),
        (
            "pushed_requests_per_client",
            2000,
            10_000,
            "PUSHED_REQUESTS_PER_CLIENT",
        ),
    ];
    for (key, default, most, variable) in cases {
        jail_with(TENANT, |jail| {
            let limit = |config: Config| match key {
                "waiting_requests_per_address" => {
                    config.settings.limits.waiting_requests_per_address
                }
                "pushed_requests_per_client" => config.settings.limits.pushed_requests_per_client,
                _ => config.settings.limits.account_changes_per_hour,
            };
            assert_eq!(limit(loaded()), default, "{key}");
            for refused in [0, most + 1] {
                jail.create_file(
                    "idp.toml",
                    &format!("{MAIN}\n[limits]\n{key} = {refused}\n"),
                )?;
                let problem = format!("idp.toml: limits.{key}: must be between 1 and {most}");
                assert_eq!(problems("idp.toml"), [problem]);
            }
            jail.create_file("idp.toml", MAIN)?;
            jail.set_env(format!("IDP__LIMITS__{variable}"), most.to_string());
            assert_eq!(limit(loaded()), most, "{key}");
            Ok(())
        });
    }
}

#[test]
fn the_activation_delay_has_bounds() {
    jail_with(TENANT, |jail| {
        assert_eq!(loaded().settings.keys.activation_delay_seconds, 3600);
        for accepted in [420_u64, 2_592_000] {
            jail.create_file(
                "idp.toml",
                &format!("{MAIN}\n[keys]\nactivation_delay_seconds = {accepted}\n"),
            )?;
            assert_eq!(loaded().settings.keys.activation_delay_seconds, accepted);
        }
        // The largest a TOML integer holds: `idp keys rotate` overflowed the date and panicked.
        // 360, the reload and the JWKS cache to the second, left no room for a node's clock a
        // little ahead of the rotating machine's.
        for refused in [2_592_001_u64, 9_223_372_036_854_775_807, 0, 360, 419] {
            jail.create_file(
                "idp.toml",
                &format!("{MAIN}\n[keys]\nactivation_delay_seconds = {refused}\n"),
            )?;
            assert_eq!(
                problems("idp.toml"),
                [
                    "idp.toml: keys.activation_delay_seconds: must be between 420 seconds and 30 days (2592000): nodes reload keys every 60 s, clients cache the JWKS for 300 s, and a minute is left for the reload and the nodes' clocks"
                ]
            );
        }
        Ok(())
    });
}
