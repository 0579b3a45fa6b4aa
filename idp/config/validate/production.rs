//! The settings that are fine for a developer's machine but unsafe on a public (`https://`)
//! server, which `idp serve` refuses and `idp check-config` reports: the development
//! key-encryption key, mail in clear to another host, a tenant without its privacy notice, and
//! what the demo configuration publishes (its legacy exports, imported at every start, and its
//! clients' secrets, README.md).
//!
//! An `allow_…` setting overrides a rule only where a real deployment may need what it refuses:
//! a staging server on the development key, a relay on a network the operator trusts. A demo
//! export and a plain client secret have none: `idp import-legacy` and `client_secret_sha256`
//! do the same safely.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::rules::is_loopback_host;
use crate::config::client::{AuthMethod, ClientConfig};
use crate::config::problems::Problem;
use crate::config::settings::{MailTransport, Settings, SmtpTls};
use crate::config::tenant::TenantConfig;

/// The client secrets of the demo configuration (`config/tenants/*.toml`), which README.md
/// prints: refused on a public server as plain text and as a SHA-256 alike.
pub(in crate::config) const DEMO_CLIENT_SECRETS: [&str; 2] =
    ["demo-secret-seinajoki", "demo-secret-kouvola"];

/// Everything unsafe on the public server `settings` describe, if it is one: the main file's
/// (`origin` names where a key's value came from), then each tenant's, by id.
pub(in crate::config) fn production(
    settings: &Settings,
    tenants: &BTreeMap<String, TenantConfig>,
    origin: &dyn Fn(&str) -> String,
) -> Vec<Problem> {
    if settings.server.public_url.scheme() != "https" {
        return Vec::new();
    }
    let mut problems = Vec::new();
    let keys = &settings.keys;
    if keys.encryption_key.is_none() && !keys.allow_development_key {
        problems.push(Problem::new(
            origin("keys.encryption_key"),
            "keys.encryption_key",
            format!(
                "is not set, and the public URL is https://: signing keys would be encrypted with the development key in {}; set keys.encryption_key (IDP__KEYS__ENCRYPTION_KEY) to 32 random bytes in base64, or set keys.allow_development_key = true (IDP__KEYS__ALLOW_DEVELOPMENT_KEY) to run on the development key all the same",
                keys.development_key_file.display()
            ),
        ));
    }
    let mail = &settings.mail;
    if mail.transport == MailTransport::Smtp
        && mail.tls == SmtpTls::None
        && !mail.allow_remote_plaintext
        && let Some(host) = mail.host.as_deref().filter(|host| !is_loopback_host(host))
    {
        problems.push(Problem::new(
            origin("mail.tls"),
            "mail.tls",
            format!(
                "is \"none\" towards mail.host {host}, which is not this host, and the public URL is https://: the mails' links (and a relay password) would cross the network unencrypted; use \"starttls\" or \"tls\", or set mail.allow_remote_plaintext = true (IDP__MAIL__ALLOW_REMOTE_PLAINTEXT) for a relay on a network you trust"
            ),
        ));
    }
    // A server on this machine's loopback only (the certification run behind its TLS proxy) has
    // its e-services there too: their http:// redirects are not refused.
    let on_loopback = settings
        .server
        .public_url
        .host_str()
        .is_some_and(|host| is_loopback_host(host.trim_matches(['[', ']'])));
    for tenant in tenants.values() {
        let file = settings.tenants.dir.join(format!("{}.toml", tenant.id));
        let source = file.display().to_string();
        if tenant.privacy_url.is_none() && !on_loopback {
            problems.push(Problem::new(
                &source,
                "privacy_url",
                "is not set, and the public URL is https://: the foot of every page and every mail links the city's privacy notice (tietosuojaseloste, GDPR Art. 13), and residents would have none; set privacy_url to the address where the city publishes it",
            ));
        }
        if let Some(export) = &tenant.legacy.import_at_start {
            problems.push(Problem::new(
                &source,
                "legacy.import_at_start",
                format!(
                    "is for demo configurations, and the public URL is https://: {} would be imported again at every start of every node (the demo exports' accounts and password are published in README.md); remove the key and import the city's export with idp import-legacy (docs/migration.md)",
                    export.display()
                ),
            ));
        }
        for (i, client) in tenant.clients.iter().enumerate() {
            if let Some((key, message)) = secret_problem(client) {
                problems.push(Problem::new(
                    &source,
                    format!("clients[{i}].{key}"),
                    message,
                ));
            }
            // A rotation away from a demo secret keeps it working until its expiry.
            if let Some(demo) = client
                .previous_client_secret_sha256
                .as_deref()
                .and_then(demo_secret_of)
            {
                problems.push(Problem::new(
                    &source,
                    format!("clients[{i}].previous_client_secret_sha256"),
                    format!(
                        "is the SHA-256 of the demo secret \"{demo}\" published in README.md, and the public URL is https://: anyone could authenticate as this client until previous_secret_expires; remove the previous_… keys (a secret everyone knows is replaced, not rotated)"
                    ),
                ));
            }
            if on_loopback {
                continue;
            }
            for (j, uri) in client.redirect_uris.iter().enumerate() {
                if let Some(message) = plain_redirect_problem(client, uri) {
                    let key = format!("clients[{i}].redirect_uris[{j}]");
                    problems.push(Problem::new(&source, key, message));
                }
            }
            let origins = [
                (
                    "web_origins",
                    &client.web_origins,
                    "a page served without TLS must not hold a resident's tokens",
                ),
                (
                    "onward_origins",
                    &client.onward_origins,
                    "the resident would arrive from the login at a page without TLS",
                ),
            ];
            for (name, list, why) in origins {
                for (j, origin) in list
                    .iter()
                    .enumerate()
                    .filter(|(_, o)| o.starts_with("http://"))
                {
                    problems.push(Problem::new(
                        &source,
                        format!("clients[{i}].{name}[{j}]"),
                        format!("\"{origin}\" is http://, and the public URL is https://: {why}; give the e-service's https:// origin"),
                    ));
                }
            }
        }
    }
    problems
}

/// What is unsafe about a client's `http://` redirect URI on a public server (RFC 9700 §2.6: no
/// `http` redirect but a native app's to its loopback): a confidential client's (its server is
/// not on idp's host: the demo's `http://localhost:8081/callback`), or a public client's to the
/// name `localhost` (RFC 8252 §8.3: a name can resolve elsewhere; `http://127.0.0.1` cannot).
fn plain_redirect_problem(client: &ClientConfig, uri: &str) -> Option<String> {
    let url = url::Url::parse(uri)
        .ok()
        .filter(|url| url.scheme() == "http")?;
    if client.token_endpoint_auth_method != AuthMethod::None {
        return Some(format!(
            "\"{uri}\" is http://, and the public URL is https://: an e-service's server takes its codes at an https:// URI (RFC 9700 §2.6); only a native app (token_endpoint_auth_method = \"none\") may use http://127.0.0.1"
        ));
    }
    (url.host_str() == Some("localhost")).then(|| {
        format!(
            "\"{uri}\" names localhost, and the public URL is https://: a native app's redirect names its loopback address, http://127.0.0.1 (RFC 8252 §8.3: a name can resolve elsewhere)"
        )
    })
}

/// The demo secret whose SHA-256 `hash` is, if it is one.
fn demo_secret_of(hash: &str) -> Option<&'static str> {
    DEMO_CLIENT_SECRETS
        .into_iter()
        .find(|secret| hex::encode(Sha256::digest(secret)).eq_ignore_ascii_case(hash))
}

/// What is unsafe about a client's secret on a public server: its key and why.
fn secret_problem(client: &ClientConfig) -> Option<(&'static str, String)> {
    if client.client_secret.is_some() {
        return Some((
            "client_secret",
            "is in plain text, and the public URL is https://: give client_secret_sha256 instead, the SHA-256 of a secret of 32 random bytes or more (openssl rand -base64 32; docs/configuration.md)".into(),
        ));
    }
    let hash = client.client_secret_sha256.as_deref()?;
    let demo = demo_secret_of(hash)?;
    Some((
        "client_secret_sha256",
        format!(
            "is the SHA-256 of the demo secret \"{demo}\" published in README.md, and the public URL is https://: give the SHA-256 of a secret of 32 random bytes or more (openssl rand -base64 32)"
        ),
    ))
}
