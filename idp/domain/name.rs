//! A resident's display name as typed on the account and registration pages.

/// The longest display name kept, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// Why a typed name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Longer than [`MAX_NAME_CHARS`].
    #[error("the name is longer than {MAX_NAME_CHARS} characters")]
    TooLong,
    /// Holds a control character (a line break, NUL, …), which no name has and which would
    /// reach ID tokens and mails.
    #[error("the name holds a control character")]
    Control,
}

impl NameError {
    /// The translation key of the field's error.
    pub fn message_key(&self) -> &'static str {
        "name-invalid"
    }
}

/// The trimmed display name, `None` when empty.
pub fn parse_name(input: &str) -> Result<Option<String>, NameError> {
    let trimmed = input.trim();
    if trimmed.chars().any(char::is_control) {
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
