//! One row of an export: its fields as read, checked and normalised into what is stored.

use chrono::NaiveDateTime;

use crate::config::SaltedShaLayout;
use crate::crypto::legacy::{self, LegacyFormat};
use crate::domain::{Email, lookup_key, parse_name, without_hidden_marks};
use crate::store::legacy::LegacyRow;
use crate::store::legacy_import::{LegacyChanges, NewLegacy};

/// The columns of an export (CSV header names, JSON Lines keys), in the documented order.
pub const COLUMNS: [&str; 6] = [
    "username",
    "subject",
    "email",
    "password_hash",
    "name",
    "authority",
];

/// A row's fields as read; a missing field is empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawRow {
    /// The old login name.
    pub username: String,
    /// What the e-services know the account by; empty means the username.
    pub subject: String,
    /// The address, possibly empty.
    pub email: String,
    /// The old hash, possibly empty.
    pub password_hash: String,
    /// Display name.
    pub name: String,
    /// `true`/`false`, `1`/`0`, `yes`/`no` or empty.
    pub authority: String,
}

impl RawRow {
    /// Whether a field, trimmed, still holds a line break: no value does, and in a CSV it is a
    /// quote left open that took the lines after it into this field.
    pub fn holds_a_line_break(&self) -> bool {
        [
            &self.username,
            &self.subject,
            &self.email,
            &self.password_hash,
            &self.name,
            &self.authority,
        ]
        .iter()
        .any(|field| field.trim().contains(['\n', '\r']))
    }

    /// The field of column `index` of [`COLUMNS`].
    pub fn field_mut(&mut self, index: usize) -> Option<&mut String> {
        Some(match index {
            0 => &mut self.username,
            1 => &mut self.subject,
            2 => &mut self.email,
            3 => &mut self.password_hash,
            4 => &mut self.name,
            5 => &mut self.authority,
            _ => return None,
        })
    }
}

/// The longest username kept (as for the users' usernames).
const MAX_USERNAME_CHARS: usize = 64;
/// OpenID Connect's limit on `sub`: 255 ASCII characters.
const MAX_SUBJECT_BYTES: usize = 255;

/// A checked row, ready to compare with the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    /// Where it starts in the file (1-based).
    pub line: u64,
    /// Trimmed.
    pub username: String,
    /// Lowercased: the key of the import.
    pub username_normalized: String,
    /// Trimmed; the username when the file had none.
    pub subject: String,
    /// Parsed and normalised as at login.
    pub email: Option<Email>,
    /// Trimmed; `None` when empty.
    pub password_hash: Option<String>,
    /// The detected format; `None` when the hash is empty, unknown or over a cost cap
    /// (unusable: the resident gets a mailed link).
    pub format: Option<LegacyFormat>,
    /// Why a hash of a known format is unusable: its cost is over a cap
    /// ([`legacy::over_cap`]).
    pub over_cap: Option<String>,
    /// Trimmed, at most 200 characters without control characters (`domain::name`); `None` when
    /// empty.
    pub name: Option<String>,
    /// An authority user.
    pub is_authority: bool,
}

/// Whether `username` (trimmed) may be a stored account's: no control character and at most
/// [`MAX_USERNAME_CHARS`], as [`ImportRow::parse`] asks of every row.
pub(super) fn may_name_an_account(username: &str) -> bool {
    username.chars().count() <= MAX_USERNAME_CHARS && !username.chars().any(char::is_control)
}

impl ImportRow {
    /// Checks `raw` (read at `line`) and normalises it; the reason when the row is refused.
    pub fn parse(
        line: u64,
        raw: &RawRow,
        salted: Option<&SaltedShaLayout>,
    ) -> Result<ImportRow, String> {
        let username = raw.username.trim();
        if username.is_empty() {
            return Err("username is empty".into());
        }
        if username.chars().count() > MAX_USERNAME_CHARS {
            return Err(format!(
                "username is longer than {MAX_USERNAME_CHARS} characters"
            ));
        }
        if username
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(format!(
                "username {username:?} contains a space or a control character"
            ));
        }
        let subject = match raw.subject.trim() {
            "" => username,
            subject => subject,
        };
        // What a spreadsheet or a database tool writes in place of a value: imported, it would be
        // a subject the e-services do not know (the resident's history split for good once the
        // account is bound).
        for (column, value) in [
            ("username", username),
            ("subject", subject),
            ("name", raw.name.trim()),
            ("password_hash", raw.password_hash.trim()),
        ] {
            if let Some(why) = rewritten(value) {
                return Err(format!(
                    "{column} {value:?} {why}; export the column as text"
                ));
            }
        }
        if subject.len() > MAX_SUBJECT_BYTES {
            return Err(format!(
                "subject is longer than {MAX_SUBJECT_BYTES} bytes (OpenID Connect's limit)"
            ));
        }
        if subject.chars().any(char::is_control) {
            return Err(format!("subject {subject:?} contains a control character"));
        }
        let email = match raw.email.trim() {
            "" => None,
            email => Some(Email::parse(email).map_err(|e| format!("email: {e}"))?),
        };
        let is_authority = match raw.authority.trim().to_lowercase().as_str() {
            "" | "false" | "0" | "no" => false,
            "true" | "1" | "yes" => true,
            other => {
                return Err(format!(
                    "authority: {other:?} is not true/false, 1/0 or yes/no"
                ));
            }
        };
        // No hash holds one; and PostgreSQL refuses a NUL in text, which would stop the import
        // at this row's batch on every run.
        if raw.password_hash.trim().chars().any(char::is_control) {
            return Err("password_hash contains a control character".into());
        }
        let password_hash = Some(without_scheme(raw.password_hash.trim()))
            .filter(|h| !h.is_empty())
            .map(str::to_string);
        let detected = password_hash
            .as_deref()
            .and_then(|hash| Some((hash, legacy::detect(hash, salted)?)));
        let over_cap = detected.and_then(|(hash, format)| legacy::over_cap(hash, format));
        let format = detected
            .map(|(_, format)| format)
            .filter(|_| over_cap.is_none());
        // The users' own rule: the name reaches the user bound to the account (an invisible
        // mark left out rather than the account).
        let name =
            parse_name(&without_hidden_marks(&raw.name)).map_err(|e| format!("name: {e}"))?;
        Ok(ImportRow {
            line,
            username: username.to_string(),
            username_normalized: lookup_key(username),
            subject: subject.to_string(),
            email,
            password_hash,
            format,
            over_cap,
            name,
            is_authority,
        })
    }

    /// The stored name of the hash's format.
    pub fn format_name(&self) -> Option<&'static str> {
        self.format.map(LegacyFormat::name)
    }

    /// The address, trimmed and lowercased.
    fn email_normalized(&self) -> Option<&str> {
        self.email.as_ref().map(Email::normalized)
    }

    /// Whether the address support set on `stored` (`idp legacy set-email`) stays: the export
    /// still gives the address it gave at the import before.
    pub fn keeps_support_address(&self, stored: &LegacyRow) -> bool {
        stored.has_support_address()
            && stored.exported_email_normalized.as_deref() == self.email_normalized()
    }

    /// Whether the stored account already holds exactly this row: with `keep_address`, whatever
    /// address it has (support's, which stays); otherwise this row's.
    pub fn same_as(&self, stored: &LegacyRow, keep_address: bool) -> bool {
        let address = keep_address
            || (stored.email.as_deref() == self.email.as_ref().map(Email::as_entered)
                && stored.email_normalized.as_deref() == self.email_normalized());
        address
            && stored.exported_email_normalized.as_deref() == self.email_normalized()
            && stored.username == self.username
            && stored.subject == self.subject
            && stored.password_hash == self.password_hash
            && stored.hash_format.as_deref() == self.format_name()
            && stored.name == self.name
            && stored.is_authority == self.is_authority
    }

    /// The row to insert.
    pub fn to_new<'a>(&'a self, tenant: &'a str, id: String, now: NaiveDateTime) -> NewLegacy<'a> {
        NewLegacy {
            id,
            tenant_id: tenant,
            username_normalized: &self.username_normalized,
            imported_at: now,
            exported: self.to_changes(now),
        }
    }

    /// The changes that make a stored account hold this row, its address the export's.
    pub fn to_changes(&self, now: NaiveDateTime) -> LegacyChanges<'_> {
        LegacyChanges {
            username: &self.username,
            subject: &self.subject,
            email: self.email.as_ref().map(Email::as_entered),
            email_normalized: self.email_normalized(),
            password_hash: self.password_hash.as_deref(),
            hash_format: self.format_name(),
            name: self.name.as_deref(),
            is_authority: self.is_authority,
            updated_at: now,
            exported_email_normalized: self.email_normalized(),
        }
    }
}

/// Why `value` looks like what a tool wrote instead of the data: a number in scientific notation
/// (Excel's `1.23457E+11` for a 12-digit id, its digits lost), or a null written out (`NULL`,
/// `\N`).
fn rewritten(value: &str) -> Option<&'static str> {
    if value == "NULL" || value == "\\N" {
        return Some("is a null written out by the exporting tool");
    }
    let (mantissa, exponent) = value.split_once(['e', 'E'])?;
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    let mantissa = mantissa.strip_prefix(['+', '-']).unwrap_or(mantissa);
    let mantissa_ok = match mantissa.split_once(['.', ',']) {
        Some((whole, fraction)) => digits(whole) && digits(fraction),
        None => digits(mantissa),
    };
    // Spreadsheets always sign the exponent (`1E+11`); an unsigned one is an id (`123e4567`).
    let exponent = exponent.strip_prefix(['+', '-'])?;
    (mantissa_ok && digits(exponent))
        .then_some("looks like a number a spreadsheet rewrote in scientific notation")
}

/// A hash as an LDAP directory exports it for the crypt scheme (`{CRYPT}$6$…`, OpenLDAP's
/// `userPassword` with the system's crypt): the crypt string itself, which is a self-describing
/// format of its own. Any other value as it is (`{SSHA}` is a salted-SHA layout the tenant
/// describes).
fn without_scheme(hash: &str) -> &str {
    match hash.get(..7) {
        Some(scheme) if scheme.eq_ignore_ascii_case("{CRYPT}") => &hash[7..],
        _ => hash,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(username: &str) -> RawRow {
        RawRow {
            username: username.into(),
            ..RawRow::default()
        }
    }

    #[test]
    fn what_a_tool_wrote_in_place_of_a_value_is_refused() {
        let subject = |subject: &str| {
            ImportRow::parse(
                2,
                &RawRow {
                    subject: subject.into(),
                    ..raw("matti")
                },
                None,
            )
        };
        assert_eq!(
            subject("1.23457E+11").unwrap_err(),
            "subject \"1.23457E+11\" looks like a number a spreadsheet rewrote in scientific notation; export the column as text"
        );
        assert!(subject("1,5E+3").is_err());
        assert!(subject("1E-05").is_err());
        assert_eq!(
            subject("NULL").unwrap_err(),
            "subject \"NULL\" is a null written out by the exporting tool; export the column as text"
        );
        assert!(subject("\\N").is_err());
        // Look-alikes that are values.
        for fine in [
            "S-1001",
            "123456789012",
            "e5",
            "1e",
            "E-123",
            "nulli",
            "1.5",
            "123e4567",
            "2019E001",
        ] {
            assert!(subject(fine).is_ok(), "{fine}");
        }
        let name = RawRow {
            name: "NULL".into(),
            ..raw("liisa")
        };
        assert!(ImportRow::parse(2, &name, None).is_err());
    }

    #[test]
    fn defaults_the_subject_and_normalises() {
        let row = ImportRow::parse(
            2,
            &RawRow {
                username: "  Matti.M ".into(),
                email: " Matti@Testi.FI ".into(),
                password_hash: " $2b$04$cd/PVnsiDJWMgHzgjB6kau.clFYNpL7uSV7.RvpKRpDfZlfAkPTY2 "
                    .into(),
                authority: "Yes".into(),
                ..RawRow::default()
            },
            None,
        )
        .unwrap();
        assert_eq!(row.username, "Matti.M");
        assert_eq!(row.username_normalized, "matti.m");
        assert_eq!(row.subject, "Matti.M");
        assert_eq!(row.email.as_ref().unwrap().normalized(), "matti@testi.fi");
        assert_eq!(row.format_name(), Some("bcrypt"));
        assert!(row.password_hash.unwrap().starts_with("$2b$"));
        assert!(row.is_authority);
        assert_eq!(row.name, None);
    }

    #[test]
    fn an_unknown_hash_is_kept_but_unusable() {
        let row = ImportRow::parse(
            3,
            &RawRow {
                password_hash: "{MD5}abc".into(),
                ..raw("a@b")
            },
            None,
        )
        .unwrap();
        assert_eq!(row.password_hash.as_deref(), Some("{MD5}abc"));
        assert_eq!(row.format, None);
        assert_eq!(row.username, "a@b", "legacy usernames may hold @");
    }

    #[test]
    fn an_ldap_crypt_hash_is_its_crypt_string() {
        let crypt = "$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/";
        for exported in [format!("{{CRYPT}}{crypt}"), format!("{{crypt}}{crypt}")] {
            let parsed = &RawRow {
                password_hash: exported,
                ..raw("ldap.user")
            };
            let row = ImportRow::parse(3, parsed, None).unwrap();
            assert_eq!(row.password_hash.as_deref(), Some(crypt));
            assert_eq!(row.format, Some(LegacyFormat::Sha512Crypt));
        }
    }

    #[test]
    fn refuses_with_a_reason() {
        let refused = |row: RawRow| ImportRow::parse(1, &row, None).unwrap_err();
        assert_eq!(refused(raw(" ")), "username is empty");
        assert_eq!(
            refused(raw("matti meikäläinen")),
            "username \"matti meikäläinen\" contains a space or a control character"
        );
        assert_eq!(
            refused(raw(&"x".repeat(65))),
            "username is longer than 64 characters"
        );
        assert_eq!(
            refused(RawRow {
                email: "matti".into(),
                ..raw("matti")
            }),
            "email: \"matti\" is not a mail address"
        );
        assert_eq!(
            refused(RawRow {
                authority: "maybe".into(),
                ..raw("matti")
            }),
            "authority: \"maybe\" is not true/false, 1/0 or yes/no"
        );
        assert_eq!(
            refused(RawRow {
                subject: "x".repeat(256),
                ..raw("matti")
            }),
            "subject is longer than 255 bytes (OpenID Connect's limit)"
        );
        // PostgreSQL refuses a NUL in text: a row holding one would stop the import.
        assert_eq!(
            refused(RawRow {
                name: "Matti\u{0}".into(),
                ..raw("matti")
            }),
            "name: the name holds a control or invisible character"
        );
        assert_eq!(
            refused(RawRow {
                name: "ä".repeat(201),
                ..raw("matti")
            }),
            "name: the name is longer than 200 characters"
        );
        assert_eq!(
            refused(RawRow {
                password_hash: "$2b$04$\u{0}".into(),
                ..raw("matti")
            }),
            "password_hash contains a control character"
        );
    }
}
