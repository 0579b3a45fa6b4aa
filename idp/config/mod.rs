//! Configuration: `config/idp.toml`, `IDP__SECTION__KEY` overrides, and one file per tenant.
//!
//! [`load`] reads everything and returns one typed [`Config`] or every [`Problem`] it found, each
//! naming its file (or environment variable) and key. Nothing here is global: the struct is passed
//! to whoever needs it. Relative paths are relative to the working directory. A key whose
//! field is an `Option` may be left out (serde reads a missing one as `None`); other keys that may be
//! left out have a `#[serde(default)]`.

mod audit;
mod client;
mod deletion;
mod factors;
mod legacy;
mod problems;
mod settings;
mod statement;
mod tenant;
mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Toml};

pub use audit::AuditSettings;
pub use client::{AssertionAudience, AuthMethod, ClientConfig, Expiry, GrantType, IDENTITY_SCOPES};
pub use deletion::DeletionSettings;
pub use factors::{ACR_MFA, ACR_PASSWORD, AcrValues, PasskeySettings, SecondFactorPolicy};
pub use legacy::{
    Encoding, FieldOrder, HashInput, ImportFormat, LegacySettings, PasswordEncoding, SaltEncoding,
    SaltedShaLayout, ShaDigest,
};
pub use problems::{KeyError, Problem, Problems, deserialize_all, one_line};
pub use settings::{
    DatabaseBackend, DatabaseSettings, KeysSettings, LogFormat, LogSettings, MAILS_A_ROUND,
    MailSettings, MailTransport, MalformedKey, ServerSettings, Settings, SigningAlg, SmtpTls,
    SqliteSynchronous, TelemetrySettings, TemplatesSettings, TenantsSettings, TokenSettings,
    encryption_key_bytes,
};
pub use statement::{AccessibilityStatement, Assessor, Compliance, Notice};
pub use tenant::{
    Branding, Language, MailLimits, Policy, Support, TenantConfig, contrast_with_white,
};

/// The path used when neither `--config` nor `IDP_CONFIG` names one.
pub const DEFAULT_PATH: &str = "config/idp.toml";

/// The prefix of environment variables that override keys of the main file.
pub const ENV_PREFIX: &str = "IDP__";

/// The whole, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the main file was read from.
    pub path: PathBuf,
    /// The main file with its overrides.
    pub settings: Settings,
    /// The tenants, by id, in id order.
    pub tenants: BTreeMap<String, TenantConfig>,
}

impl Config {
    /// A tenant by id.
    pub fn tenant(&self, id: &str) -> Option<&TenantConfig> {
        self.tenants.get(id)
    }

    /// What a serving node needs from its environment beyond the files: the variable that holds
    /// the SMTP relay's password (`mail.password_env`), set. Only `idp serve` sends mail, so only
    /// it and `idp check-config` ask: a scheduled `idp backup` or a support command need not
    /// carry the relay's password in their environment.
    pub fn unset_for_serving(&self) -> Vec<Problem> {
        let mail = &self.settings.mail;
        let source = self.path.display().to_string();
        match (&mail.transport, &mail.username, &mail.password_env) {
            (settings::MailTransport::Smtp, Some(_), Some(var))
                if std::env::var_os(var).is_none() =>
            {
                vec![Problem::new(
                    origin_of(&source, "mail.password_env"),
                    "mail.password_env",
                    format!("the environment variable {var} is not set"),
                )]
            }
            _ => Vec::new(),
        }
    }

    /// The settings of the main file and the tenants that are unsafe on a public (`https://`)
    /// server and not overridden (`validate/production.rs`); `idp serve` refuses to start on
    /// them, `idp check-config` reports them.
    pub fn unsafe_for_production(&self) -> Vec<Problem> {
        let source = self.path.display().to_string();
        validate::production(&self.settings, &self.tenants, &|key| {
            origin_of(&source, key)
        })
    }

    /// The issuer of a tenant: `public_url + "/" + id`.
    pub fn issuer(&self, tenant: &TenantConfig) -> String {
        format!("{}/{}", self.settings.server.public_base(), tenant.id)
    }
}

/// Reads the main file at `path`, applies the process's `IDP__…` environment, reads the tenants.
pub fn load(path: &Path) -> Result<Config, Problems> {
    let source = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| Problems(vec![Problem::new(&source, "", format!("cannot read: {e}"))]))?;
    if let Err(e) = toml::from_str::<toml::Table>(&text) {
        return Err(Problems(vec![Problem::new(&source, "", toml_message(&e))]));
    }
    let figment = Figment::from(Toml::string(&text)).merge(Env::prefixed(ENV_PREFIX).split("__"));
    let value: toml::Value = figment
        .extract()
        .map_err(|e| Problems(vec![Problem::new(&source, "", e.to_string())]))?;
    let settings: Settings = deserialize_all(value).map_err(|errors| {
        Problems(
            errors
                .into_iter()
                .map(|e| Problem::new(origin_of(&source, &e.key), e.key, e.message))
                .collect(),
        )
    })?;

    let mut problems = validate::settings(&settings, &|key| origin_of(&source, key));
    let tenants = read_tenants(
        &settings.tenants.dir,
        &origin_of(&source, "tenants.dir"),
        &mut problems,
    );
    if settings.server.geoip_database.is_none() {
        for tenant in tenants.values().filter(|t| t.sessions.location) {
            let file = settings.tenants.dir.join(format!("{}.toml", tenant.id));
            problems.push(Problem::new(
                file.display().to_string(),
                "sessions.location",
                "needs server.geoip_database in the main file",
            ));
        }
    }
    // A forgot-password mail refused by its address's limit leaves the owner the links that
    // filled it (`store::mail_limits::Budget`): they must work as long as the refusal lasts.
    for tenant in tenants.values() {
        let window = u64::from(tenant.mail_limits.per_address_minutes) * 60;
        if window > settings.tokens.link_seconds {
            let file = settings.tenants.dir.join(format!("{}.toml", tenant.id));
            problems.push(Problem::new(
                file.display().to_string(),
                "mail_limits.per_address_minutes",
                format!(
                    "must not be longer than a mailed link works (tokens.link_seconds, {} minutes): past the limit a resident's own reset is refused for the window, and the links that filled it must still let them in",
                    settings.tokens.link_seconds / 60
                ),
            ));
        }
    }
    if problems.is_empty() {
        Ok(Config {
            path: path.to_path_buf(),
            settings,
            tenants,
        })
    } else {
        Err(Problems(problems))
    }
}

/// Where the value of `key` came from: its overriding environment variable, or the file.
fn origin_of(file: &str, key: &str) -> String {
    let name = env_name(key);
    if std::env::var_os(&name).is_some() {
        format!("environment variable {name}")
    } else {
        file.to_string()
    }
}

/// The environment variable that overrides `key`: `server.bind` → `IDP__SERVER__BIND`.
pub fn env_name(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.replace('.', "__").to_uppercase())
}

/// A TOML syntax error as one line: `line L, column C: message`.
fn toml_message(error: &toml::de::Error) -> String {
    let message = error.message().trim();
    match error.span() {
        Some(_) => {
            // toml's Display carries the line and column in its first line.
            let first = error.to_string();
            let location = first
                .lines()
                .next()
                .unwrap_or_default()
                .trim_start_matches("TOML parse error at ")
                .to_string();
            format!("{location}: {message}")
        }
        None => message.to_string(),
    }
}

/// Reads every `*.toml` in `dir` as a tenant; problems go to `problems`.
fn read_tenants(
    dir: &Path,
    origin: &str,
    problems: &mut Vec<Problem>,
) -> BTreeMap<String, TenantConfig> {
    let mut tenants = BTreeMap::new();
    let source = dir.display().to_string();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            problems.push(Problem::new(
                origin,
                "tenants.dir",
                format!("cannot read the directory {source}: {e}"),
            ));
            return tenants;
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    if files.is_empty() {
        problems.push(Problem::new(
            origin,
            "tenants.dir",
            format!("no tenant files (*.toml) in {source}"),
        ));
    }
    for file in files {
        let file_source = file.display().to_string();
        let text = match std::fs::read_to_string(&file) {
            Ok(text) => text,
            Err(e) => {
                problems.push(Problem::new(file_source, "", format!("cannot read: {e}")));
                continue;
            }
        };
        let value = match toml::from_str::<toml::Value>(&text) {
            Ok(value) => value,
            Err(e) => {
                problems.push(Problem::new(file_source, "", toml_message(&e)));
                continue;
            }
        };
        let tenant: TenantConfig = match deserialize_all(value) {
            Ok(tenant) => tenant,
            Err(errors) => {
                problems.extend(
                    errors
                        .into_iter()
                        .map(|e| Problem::new(&file_source, e.key, e.message)),
                );
                continue;
            }
        };
        // Relative paths in a tenant file are relative to the working directory.
        problems.extend(validate::tenant(&tenant, &file, Path::new("")));
        if tenants.contains_key(&tenant.id) {
            problems.push(Problem::new(
                file_source,
                "id",
                format!("tenant id \"{}\" is used by another file too", tenant.id),
            ));
            continue;
        }
        tenants.insert(tenant.id.clone(), tenant);
    }
    tenants
}

#[cfg(test)]
pub(crate) mod testing;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod proptests;
