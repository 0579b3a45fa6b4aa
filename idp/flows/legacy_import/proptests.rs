//! Property tests of the legacy export's readers and its row checks: arbitrary files and fields
//! never panic; a valid row is accepted as written.

use proptest::prelude::*;

use super::read::{Format, Records};
use super::row::{ImportRow, RawRow};

fn read_all(bytes: &[u8], format: Format) {
    let Ok(mut records) = Records::open(bytes, format) else {
        return;
    };
    // Every record consumes input: the number of records is bounded by the bytes.
    for _ in 0..=bytes.len() + 1 {
        match records.next_record() {
            Ok(Some(record)) => {
                if let Ok(raw) = record.fields {
                    let _ = ImportRow::parse(record.line, &raw, None);
                }
            }
            Ok(None) | Err(_) => return,
        }
    }
}

fn raw_row() -> impl Strategy<Value = RawRow> {
    (
        any::<String>(),
        any::<String>(),
        prop_oneof![any::<String>(), "[a-z]{1,8}@[a-z]{1,8}\\.fi", "\\PC{0,20}"],
        any::<String>(),
        any::<String>(),
        prop_oneof![any::<String>(), "(true|false|yes|no|1|0|TRUE| yes )"],
    )
        .prop_map(
            |(username, subject, email, password_hash, name, authority)| RawRow {
                username,
                subject,
                email,
                password_hash,
                name,
                authority,
            },
        )
}

proptest! {
    /// Any bytes as a CSV or JSON Lines export: no panic, no endless loop.
    #[test]
    fn any_file(
        bytes in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..400),
            "username,email,password_hash\n(\\PC{0,30}\n){0,5}".prop_map(String::into_bytes),
            "(\\{\"username\":\"\\PC{0,10}\"(,\"email\":\\PC{0,10})?\\}\n){0,5}"
                .prop_map(String::into_bytes),
        ],
    ) {
        read_all(&bytes, Format::Csv);
        read_all(&bytes, Format::Jsonl);
    }

    /// Any fields: no panic; an accepted row is trimmed, has a username without spaces or
    /// control characters, a subject of at most 255 bytes, and no control character (no NUL,
    /// which PostgreSQL refuses) in any text it stores.
    #[test]
    fn any_row(raw in raw_row()) {
        if let Ok(row) = ImportRow::parse(2, &raw, None) {
            prop_assert!(!row.username.is_empty());
            prop_assert!(!row.username.chars().any(|c| c.is_whitespace() || c.is_control()));
            prop_assert_eq!(row.username_normalized, crate::domain::lookup_key(&row.username));
            prop_assert!(row.subject.len() <= 255);
            prop_assert!(!row.subject.chars().any(char::is_control));
            for text in [row.name.as_deref(), row.password_hash.as_deref()].into_iter().flatten() {
                prop_assert!(!text.chars().any(char::is_control));
            }
        }
    }

    /// A valid row written to CSV is read back and accepted as written.
    #[test]
    fn a_valid_row_round_trips(
        username in "[A-Za-z0-9._-]{1,20}",
        subject in "[A-Za-z0-9-]{0,36}",
        email in proptest::option::of("[a-z0-9]{1,10}@[a-z]{1,10}\\.fi"),
        name in "[\\p{L} ]{0,20}",
        authority in any::<bool>(),
    ) {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(["username", "subject", "email", "password_hash", "name", "authority"]).unwrap();
        writer.write_record([
            username.as_str(),
            subject.as_str(),
            email.as_deref().unwrap_or(""),
            "",
            name.as_str(),
            if authority { "true" } else { "false" },
        ]).unwrap();
        let bytes = writer.into_inner().unwrap();
        let mut records = Records::open(bytes.as_slice(), Format::Csv).unwrap();
        let record = records.next_record().unwrap().unwrap();
        let row = ImportRow::parse(record.line, &record.fields.unwrap(), None).unwrap();
        prop_assert_eq!(&row.username, &username);
        let expected_subject = if subject.is_empty() { &username } else { &subject };
        prop_assert_eq!(&row.subject, expected_subject);
        prop_assert_eq!(row.email.as_ref().map(|e| e.as_entered().to_string()), email);
        prop_assert_eq!(row.name, Some(name.trim().to_string()).filter(|n| !n.is_empty()));
        prop_assert_eq!(row.is_authority, authority);
        prop_assert!(records.next_record().unwrap().is_none());
    }
}
