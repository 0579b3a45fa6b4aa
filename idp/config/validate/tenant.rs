//! Checks of a tenant file that serde cannot make: its id and file name, languages, contacts,
//! look, legacy export, limits and password rules; its clients are checked in `clients.rs`.

use std::collections::HashSet;
use std::path::Path;

use super::clients::clients;
use super::factors::factors;
use super::rules::{LIFETIME, MAILS, MINUTES};
use super::statement::statement;
use crate::config::legacy::{Encoding, ImportFormat, SaltEncoding};
use crate::config::problems::Problem;
use crate::config::tenant::{TenantConfig, contrast_with_white};

/// Problems of one tenant file read from `file`. The files it names (a logo, a legacy export)
/// are looked for relative to `relative_to`: `Path::new("")` for the working directory.
pub(in crate::config) fn tenant(
    tenant: &TenantConfig,
    file: &Path,
    relative_to: &Path,
) -> Vec<Problem> {
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
        match contrast_with_white(color) {
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
        let png_or_svg = logo
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "svg"));
        if let Err(message) = named_file(logo, png_or_svg, ".png or .svg", relative_to) {
            problem("branding.logo_file".into(), message);
        }
    }
    if let Some(file) = &tenant.legacy.import_at_start {
        let known = ImportFormat::from_path(file).is_some();
        if let Err(message) = named_file(file, known, ".csv, .jsonl or .ndjson", relative_to) {
            problem("legacy.import_at_start".into(), message);
        }
    }
    // No separator: salt and digest are one value (LDAP's `{SSHA}`), split at the digest's
    // length, which needs one encoding for both.
    if let Some(layout) = &tenant.legacy.salted_sha
        && layout.separator.is_empty()
        && !matches!(
            (layout.hash_encoding, layout.salt_encoding),
            (Encoding::Hex, SaltEncoding::Hex) | (Encoding::Base64, SaltEncoding::Base64)
        )
    {
        problem(
            "legacy.salted_sha.separator".into(),
            "may be empty only when the salt and the hash are written in one encoding, hex or base64 (as LDAP's {SSHA} is)".into(),
        );
    }
    let encodings = &tenant.legacy.password_encodings;
    if encodings.is_empty() {
        problem(
            "legacy.password_encodings".into(),
            "must name at least one encoding: \"utf-8\", \"windows-1252\" (or \"iso-8859-1\"), \"iso-8859-15\""
                .into(),
        );
    } else if (1..encodings.len()).any(|i| encodings[..i].contains(&encodings[i])) {
        problem(
            "legacy.password_encodings".into(),
            "names an encoding twice: each costs a hash of every old password checked".into(),
        );
    }
    let limits = &tenant.mail_limits;
    let mails = [
        ("mail_limits.per_address", limits.per_address),
        ("mail_limits.per_client_address", limits.per_client_address),
    ];
    let windows = [
        (
            "mail_limits.per_address_minutes",
            limits.per_address_minutes,
        ),
        (
            "mail_limits.per_client_address_minutes",
            limits.per_client_address_minutes,
        ),
    ];
    let lifetimes = [
        ("sessions.session_seconds", tenant.sessions.session_seconds),
        (
            "sessions.remember_seconds",
            tenant.sessions.remember_seconds,
        ),
    ];
    let outside = (MAILS.outside(mails.map(|(key, n)| (key, u64::from(n)))))
        .chain(MINUTES.outside(windows.map(|(key, n)| (key, u64::from(n)))))
        .chain(LIFETIME.outside(lifetimes));
    for (key, message) in outside {
        problem(key.into(), message.into());
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
    for (key, message) in factors(tenant).into_iter().chain(statement(tenant)) {
        problem(key, message);
    }
    problems.extend(clients(&tenant.clients, &source));
    problems
}

/// A file a tenant file names: of a known kind (`known`; `kinds` names them), and readable at
/// `relative_to.join(file)`.
fn named_file(file: &Path, known: bool, kinds: &str, relative_to: &Path) -> Result<(), String> {
    if !known {
        Err(format!("must be a {kinds} file"))
    } else if !relative_to.join(file).is_file() {
        Err(format!("{} is not a readable file", file.display()))
    } else {
        Ok(())
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
