//! `[legacy]` of a tenant: how the city's old accounts are read (the export's format, the layout
//! of salted SHA hashes) and bound by the linker.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// `[legacy]` of a tenant: how its old accounts are read and bound (`docs/migration.md`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LegacySettings {
    /// Whether the address of an account bound by its old password counts as verified (the city
    /// vouched for it; the default). An account bound through a mailed link always has a verified
    /// address.
    pub email_verified: bool,
    /// Whether the choice between several old accounts of one address shows their usernames
    /// masked (`m***a`) instead of whole.
    pub mask_usernames: bool,
    /// The layout of the old system's salted SHA-1/SHA-256 hashes, if it had them.
    pub salted_sha: Option<SaltedShaLayout>,
    /// A legacy export imported (idempotently) at every start: for demo configurations.
    pub import_at_start: Option<PathBuf>,
    /// The encodings the old system's login page sent passwords in: each old password checked
    /// is tried in every one (a hash each). `["utf-8"]` by default.
    pub password_encodings: Vec<PasswordEncoding>,
}

impl Default for LegacySettings {
    fn default() -> Self {
        Self {
            email_verified: true,
            mask_usernames: false,
            salted_sha: None,
            import_at_start: None,
            password_encodings: vec![PasswordEncoding::Utf8],
        }
    }
}

/// An encoding in which an old login page's browsers sent the password (and so the bytes the old
/// system hashed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum PasswordEncoding {
    /// UTF-8: "ä" is two bytes.
    #[serde(rename = "utf-8")]
    Utf8,
    /// windows-1252, what browsers send for a page in ISO-8859-1 (Latin-1) too (the WHATWG
    /// Encoding standard): "ä" is one byte, 0xE4. A character it lacks is sent as the browser
    /// does, `&#NNNN;`.
    #[serde(rename = "windows-1252", alias = "iso-8859-1")]
    Windows1252,
    /// ISO-8859-15 (Latin-9), Latin-1 with "€" (0xA4), "Š", "Ž", "Œ" and their kin in place of
    /// some of its signs: "ä" is 0xE4 here too.
    #[serde(rename = "iso-8859-15")]
    Iso8859_15,
}

/// The file formats of a legacy export (`legacy.import_at_start`, `idp import-legacy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportFormat {
    /// Comma-separated, a header row naming the columns.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

impl ImportFormat {
    /// The format a file name's extension says: `.csv`, `.jsonl` or `.ndjson`.
    pub fn from_path(path: &Path) -> Option<ImportFormat> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "csv" => Some(ImportFormat::Csv),
            "jsonl" | "ndjson" => Some(ImportFormat::Jsonl),
            _ => None,
        }
    }
}

/// `[legacy.salted_sha]`: how an old system stored `digest(salt + password)` (or the other
/// order): `<prefix><salt><separator><hash>` or `<prefix><hash><separator><salt>`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaltedShaLayout {
    /// `sha1` or `sha256`.
    pub digest: ShaDigest,
    /// What precedes the fields, e.g. `"{SSHA256}"`; empty by default.
    #[serde(default)]
    pub prefix: String,
    /// What separates salt and hash, e.g. `"$"` or `":"`.
    pub separator: String,
    /// Which field comes first.
    pub order: FieldOrder,
    /// How the digest is written.
    pub hash_encoding: Encoding,
    /// How the salt is written (`text`: its bytes are the salt).
    pub salt_encoding: SaltEncoding,
    /// What was hashed.
    pub input: HashInput,
}

/// The digest of a salted SHA hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShaDigest {
    /// SHA-1 (20 bytes).
    Sha1,
    /// SHA-256 (32 bytes).
    Sha256,
}

/// Which field of a salted SHA hash comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FieldOrder {
    /// `<salt><separator><hash>`.
    SaltHash,
    /// `<hash><separator><salt>`.
    HashSalt,
}

/// How a digest is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// Hexadecimal, either case.
    Hex,
    /// Standard base64, padding optional.
    Base64,
}

/// How a salt is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SaltEncoding {
    /// The salt is the text's UTF-8 bytes.
    Text,
    /// Hexadecimal.
    Hex,
    /// Standard base64.
    Base64,
}

/// What the old system fed the digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HashInput {
    /// The salt, then the password.
    SaltPassword,
    /// The password, then the salt.
    PasswordSalt,
}
