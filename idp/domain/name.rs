//! A resident's display name as typed on the account and registration pages.

/// The longest display name kept, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// Why a typed name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Longer than [`MAX_NAME_CHARS`].
    #[error("the name is longer than {MAX_NAME_CHARS} characters")]
    TooLong,
    /// Holds a control character (a line break, NUL, …) or another that does not show as itself
    /// (a right-to-left override, a zero-width space: `text::invisible`), which no name has and
    /// which would reach ID tokens, mails and the e-services' pages, reading otherwise than its
    /// letters. The zero-width joiner and non-joiner are kept: names in Persian or Indic scripts
    /// are written with them.
    #[error("the name holds a control or invisible character")]
    Control,
}

impl NameError {
    /// The translation key of the field's error.
    pub fn message_key(&self) -> &'static str {
        "name-invalid"
    }
}

/// Whether a name may not hold `c` ([`NameError::Control`]).
fn hidden(c: char) -> bool {
    super::text::invisible(c) && !matches!(c, '\u{200c}' | '\u{200d}')
}

/// `input` without the characters a name may not hold but the control ones (a line break still
/// refuses it): an old system's export may carry a zero-width space or a direction mark in a
/// name, and its account must not be lost over it.
pub fn without_hidden_marks(input: &str) -> String {
    input
        .chars()
        .filter(|&c| c.is_control() || !hidden(c))
        .collect()
}

/// The trimmed display name, `None` when empty.
pub fn parse_name(input: &str) -> Result<Option<String>, NameError> {
    let trimmed = input.trim();
    if trimmed.chars().any(hidden) {
        return Err(NameError::Control);
    }
    if trimmed.chars().count() > MAX_NAME_CHARS {
        return Err(NameError::TooLong);
    }
    Ok(Some(trimmed.to_string()).filter(|n| !n.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn trims_and_refuses() {
        assert_eq!(
            parse_name("  Erkki Esimerkki "),
            Ok(Some("Erkki Esimerkki".into()))
        );
        assert_eq!(parse_name("   "), Ok(None));
        assert_eq!(parse_name("Erkki\r\nBcc: x"), Err(NameError::Control));
        assert_eq!(parse_name("a\u{0}"), Err(NameError::Control));
        // A right-to-left override or isolate, a zero-width space: refused; the joiners kept.
        for hidden in ['\u{202e}', '\u{2067}', '\u{200b}', '\u{feff}'] {
            let name = format!("Erkki{hidden}ikkrE");
            assert_eq!(parse_name(&name), Err(NameError::Control), "{name:?}");
        }
        assert_eq!(
            parse_name("Mohammad\u{200c}Reza"),
            Ok(Some("Mohammad\u{200c}Reza".into()))
        );
        // An export's name loses its marks, not its account; a line break still refuses it.
        let exported = without_hidden_marks("\u{feff}Erkki\u{200b} \u{202e}E\u{200d}");
        assert_eq!(parse_name(&exported), Ok(Some("Erkki E\u{200d}".into())));
        assert_eq!(
            parse_name(&without_hidden_marks("Erkki\nE")),
            Err(NameError::Control)
        );
        assert_eq!(parse_name(&"ä".repeat(201)), Err(NameError::TooLong));
        assert_eq!(
            parse_name(&"ä".repeat(200)).map(|n| n.map(|n| n.chars().count())),
            Ok(Some(200))
        );
    }

    proptest! {
        /// No input panics; an accepted name is trimmed, short and free of control characters,
        /// and parses to itself again.
        #[test]
        fn any_text(input in "\\PC{0,250}|[\\x00-\\x7f]{0,40}") {
            if let Ok(Some(name)) = parse_name(&input) {
                prop_assert!(name.chars().count() <= MAX_NAME_CHARS);
                prop_assert!(!name.chars().any(char::is_control));
                prop_assert_eq!(parse_name(&name), Ok(Some(name.clone())));
            }
        }
    }
}
