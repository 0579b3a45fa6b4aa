//! Checks that serde cannot make: URLs that must be absolute, combinations of keys, names.

use std::collections::HashSet;
use std::path::Path;

use lettre::message::Mailbox;
use url::Url;

use super::problems::Problem;
use super::settings::{MailTransport, Settings, encryption_key_bytes};
use super::tenant::{AuthMethod, GrantType, ImportFormat, TenantConfig};

/// Settings that are fine for a developer's machine but unsafe on a public (`https://`)
/// server, which `idp serve` refuses and `idp check-config` reports, unless the operator
/// overrides them explicitly.
pub(super) fn production(settings: &Settings, origin: &dyn Fn(&str) -> String) -> Vec<Problem> {
    let mut problems = Vec::new();
    let public = settings.server.public_url.scheme() == "https";
    let keys = &settings.keys;
    if public && keys.encryption_key.is_none() && !keys.allow_development_key {
        problems.push(Problem::new(
            origin("keys.encryption_key"),
            "keys.encryption_key",
            format!(
                "is not set, and the public URL is https://: signing keys would be encrypted with the development key in {}; set keys.encryption_key (IDP__KEYS__ENCRYPTION_KEY) to 32 random bytes in base64, or set keys.allow_development_key = true (IDP__KEYS__ALLOW_DEVELOPMENT_KEY) to run on the development key all the same",
                keys.development_key_file.display()
            ),
        ));
    }
    problems
}

/// Problems of the main file; `origin` names where a key's value came from.
pub(super) fn settings(settings: &Settings, origin: &dyn Fn(&str) -> String) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut problem = |key: &str, message: String| {
        problems.push(Problem::new(origin(key), key, message));
    };

    let public = &settings.server.public_url;
    if !matches!(public.scheme(), "http" | "https") {
        problem(
            "server.public_url",
            "must be an http:// or https:// URL".into(),
        );
    } else if public.scheme() == "http" && !is_loopback(public) {
        problem(
            "server.public_url",
            "must be https:// (http:// is allowed only for localhost)".into(),
        );
    }
    if public.query().is_some() || public.fragment().is_some() {
        problem(
            "server.public_url",
            "must not have a query or fragment".into(),
        );
    }
    if settings.server.workers == Some(0) {
        problem("server.workers", "must be at least 1".into());
    }
    if let Err(message) = settings.database.backend() {
        problem("database.url", message);
    }
    if settings.database.max_connections == 0 {
        problem("database.max_connections", "must be at least 1".into());
    }
    if !(1..=86_400).contains(&settings.queues.lease_seconds) {
        problem(
            "queues.lease_seconds",
            "must be between 1 second and a day".into(),
        );
    }

    let mail = &settings.mail;
    if let Err(e) = mail.from.parse::<Mailbox>() {
        problem("mail.from", format!("not a mail address: {e}"));
    }
    match mail.transport {
        MailTransport::File => {
            if mail.dir.is_none() {
                problem(
                    "mail.dir",
                    "is required when mail.transport = \"file\"".into(),
                );
            }
        }
        MailTransport::Smtp => {
            if mail.host.as_deref().is_none_or(str::is_empty) {
                problem(
                    "mail.host",
                    "is required when mail.transport = \"smtp\"".into(),
                );
            }
            match (&mail.username, &mail.password_env) {
                (Some(_), None) => problem(
                    "mail.password_env",
                    "is required with mail.username: name the environment variable holding the password".into(),
                ),
                (None, Some(_)) => problem(
                    "mail.username",
                    "is required with mail.password_env".into(),
                ),
                (Some(_), Some(var)) if std::env::var_os(var).is_none() => problem(
                    "mail.password_env",
                    format!("the environment variable {var} is not set"),
                ),
                _ => {}
            }
        }
    }
    if let Some(key) = &settings.keys.encryption_key
        && let Err(e) = encryption_key_bytes(secrecy::ExposeSecret::expose_secret(key))
    {
        problem("keys.encryption_key", e.to_string());
    }
    if settings.keys.activation_delay_seconds < 360 {
        problem(
            "keys.activation_delay_seconds",
            "must be at least 360: nodes reload keys every 60 s and clients cache the JWKS for 300 s"
                .into(),
        );
    }
    let tokens = &settings.tokens;
    for (key, value) in [
        ("tokens.access_token_seconds", tokens.access_token_seconds),
        ("tokens.id_token_seconds", tokens.id_token_seconds),
        ("tokens.refresh_token_seconds", tokens.refresh_token_seconds),
        (
            "tokens.offline_refresh_token_seconds",
            tokens.offline_refresh_token_seconds,
        ),
        (
            "tokens.authorization_request_seconds",
            tokens.authorization_request_seconds,
        ),
        ("tokens.session_seconds", tokens.session_seconds),
        ("tokens.remember_seconds", tokens.remember_seconds),
        ("tokens.link_seconds", tokens.link_seconds),
    ] {
        if value == 0 || value > 400 * 24 * 3600 {
            problem(key, "must be between 1 second and 400 days".into());
        }
    }
    if let Some(dir) = &settings.templates.dir
        && !dir.is_dir()
    {
        problem(
            "templates.dir",
            format!("{} is not a directory", dir.display()),
        );
    }
    if let Err(e) = tracing_subscriber::EnvFilter::try_new(&settings.log.level) {
        problem("log.level", format!("not a log filter: {e}"));
    }
    problems
}

/// Problems of one tenant file.
pub(super) fn tenant(tenant: &TenantConfig, file: &Path) -> Vec<Problem> {
    let source = file.display().to_string();
    let mut problems = Vec::new();
    let mut problem = |key: String, message: String| {
        problems.push(Problem::new(&source, key, message));
    };

    if !is_slug(&tenant.id) {
        problem(
            "id".into(),
            format!(
                "\"{}\" is not a tenant id: use 1–63 lowercase letters a–z, digits and '-'",
                tenant.id
            ),
        );
    } else if file
        .file_stem()
        .is_some_and(|stem| stem != tenant.id.as_str())
    {
        problem(
            "id".into(),
            format!(
                "\"{}\" differs from the file name: name the file {}.toml",
                tenant.id, tenant.id
            ),
        );
    }
    if tenant.name.trim().is_empty() {
        problem("name".into(), "must not be empty".into());
    }
    if tenant.languages.is_empty() {
        problem("languages".into(), "must name at least one language".into());
    }
    let mut seen = HashSet::new();
    for language in &tenant.languages {
        if !seen.insert(*language) {
            problem(
                "languages".into(),
                format!("\"{}\" is listed twice", language.tag()),
            );
        }
    }
    if let Some(url) = &tenant.help_url
        && !matches!(url.scheme(), "http" | "https")
    {
        problem(
            "help_url".into(),
            "must be an http:// or https:// URL".into(),
        );
    }
    if let Some(email) = &tenant.support.email
        && !email_address::EmailAddress::is_valid(email)
    {
        problem(
            "support.email".into(),
            format!("\"{email}\" is not a mail address"),
        );
    }

    if let Some(color) = &tenant.branding.color {
        match super::tenant::contrast_with_white(color) {
            None => problem(
                "branding.color".into(),
                format!("\"{color}\" is not a colour: use #rrggbb"),
            ),
            Some(ratio) if ratio < 4.5 => problem(
                "branding.color".into(),
                format!("\"{color}\" contrasts {ratio:.1}:1 with white; WCAG AA needs 4.5:1"),
            ),
            Some(_) => {}
        }
    }
    if let Some(logo) = &tenant.branding.logo_file {
        let known = logo
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "svg"));
        if !known {
            problem(
                "branding.logo_file".into(),
                "must be a .png or .svg file".into(),
            );
        } else if !logo.is_file() {
            problem(
                "branding.logo_file".into(),
                format!("{} is not a readable file", logo.display()),
            );
        }
    }
    if let Some(file) = &tenant.legacy.import_at_start {
        if ImportFormat::from_path(file).is_none() {
            problem(
                "legacy.import_at_start".into(),
                "must be a .csv, .jsonl or .ndjson file".into(),
            );
        } else if !file.is_file() {
            problem(
                "legacy.import_at_start".into(),
                format!("{} is not a readable file", file.display()),
            );
        }
    }
    if let Some(layout) = &tenant.legacy.salted_sha
        && layout.separator.is_empty()
    {
        problem(
            "legacy.salted_sha.separator".into(),
            "must not be empty".into(),
        );
    }
    let limits = &tenant.mail_limits;
    for (key, value) in [
        ("mail_limits.per_address", limits.per_address),
        ("mail_limits.per_client_address", limits.per_client_address),
    ] {
        if value == 0 || value > 10_000 {
            problem(key.into(), "must be between 1 and 10000".into());
        }
    }
    for (key, value) in [
        (
            "mail_limits.per_address_minutes",
            limits.per_address_minutes,
        ),
        (
            "mail_limits.per_client_address_minutes",
            limits.per_client_address_minutes,
        ),
    ] {
        if value == 0 || value > 1440 {
            problem(
                key.into(),
                "must be between 1 and 1440 minutes (a day)".into(),
            );
        }
    }
    for (key, value) in [
        ("sessions.session_seconds", tenant.sessions.session_seconds),
        (
            "sessions.remember_seconds",
            tenant.sessions.remember_seconds,
        ),
    ] {
        if value.is_some_and(|v| v == 0 || v > 400 * 24 * 3600) {
            problem(key.into(), "must be between 1 second and 400 days".into());
        }
    }
    if let Some(min) = tenant.passwords.min_length
        && !(crate::domain::password::MIN_CHARS..=128).contains(&min)
    {
        problem(
            "passwords.min_length".into(),
            format!(
                "must be between {} and 128",
                crate::domain::password::MIN_CHARS
            ),
        );
    }
    let mut client_ids = HashSet::new();
    for (i, client) in tenant.clients.iter().enumerate() {
        let key = |name: &str| format!("clients[{i}].{name}");
        if client.client_id.is_empty() || !client.client_id.chars().all(|c| c.is_ascii_graphic()) {
            problem(
                key("client_id"),
                "must be non-empty printable ASCII without spaces".into(),
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
    }
    problems
}

/// A redirect URI: absolute, no fragment, https (http only to loopback) or a private-use scheme.
fn check_redirect_uri(uri: &str) -> Result<(), String> {
    let url = Url::parse(uri).map_err(|e| format!("\"{uri}\" is not an absolute URI: {e}"))?;
    if url.fragment().is_some() {
        return Err(format!("\"{uri}\" must not have a fragment"));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&url) => Ok(()),
        "http" => Err(format!(
            "\"{uri}\" must be https:// (http:// only for localhost)"
        )),
        // Native apps (RFC 8252 §7.1) use a private-use scheme with a dot in it.
        scheme if scheme.contains('.') => Ok(()),
        scheme => Err(format!("\"{uri}\": scheme {scheme} is not allowed")),
    }
}

/// A URI the provider itself calls: http(s) and absolute.
fn check_web_uri(uri: &str) -> Result<(), String> {
    let url = Url::parse(uri).map_err(|e| format!("\"{uri}\" is not an absolute URI: {e}"))?;
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&url) => Ok(()),
        _ => Err(format!(
            "\"{uri}\" must be https:// (http:// only for localhost)"
        )),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// `[a-z0-9][a-z0-9-]{0,62}`
fn is_slug(id: &str) -> bool {
    (1..=63).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !id.starts_with('-')
}
