//! Configuration problems, each naming its file and key, and a deserializer that finds all of them.
//!
//! serde stops at the first error. An operator fixing a file wants every problem at once, so
//! [`deserialize_all`] records an error, removes the offending key from the document and tries
//! again, until the rest deserializes or a required key is missing.

use std::fmt;

use serde::de::DeserializeOwned;

/// One problem in the configuration: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file (or environment variable) the value came from.
    pub source: String,
    /// The key's path inside that file, such as `clients[0].redirect_uris`; empty for the whole file.
    pub key: String,
    /// What is wrong, in one line.
    pub message: String,
}

impl Problem {
    /// A problem at `key` of `source`.
    pub fn new(
        source: impl Into<String>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            source: source.into(),
            key: key.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    /// One line: `source: key: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let message = one_line(&self.message);
        if self.key.is_empty() {
            write!(f, "{}: {message}", self.source)
        } else {
            write!(f, "{}: {}: {message}", self.source, self.key)
        }
    }
}

/// Joins the lines of a multi-line message with "; ".
pub fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Every problem found in a configuration; never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

/// A problem found while deserializing: the key's path and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError {
    /// Path of the key, `a.b[0].c`.
    pub key: String,
    /// serde's message.
    pub message: String,
}

/// Deserializes `value` into `T`, collecting every key that is unknown or of the wrong type.
///
/// Returns the value only when there was no problem at all.
pub fn deserialize_all<T: DeserializeOwned>(mut value: toml::Value) -> Result<T, Vec<KeyError>> {
    let mut errors = Vec::new();
    // Each round removes one key, so the document's size bounds the loop; 1000 is a safety net.
    for _ in 0..1000 {
        match serde_path_to_error::deserialize::<_, T>(value.clone()) {
            Ok(parsed) if errors.is_empty() => return Ok(parsed),
            Ok(_) => return Err(errors),
            Err(err) => {
                let key = err.path().to_string();
                let key = if key == "." { String::new() } else { key };
                // toml appends "in `key`" on later lines: the key is reported separately.
                let message = err.inner().to_string();
                let message = message
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                let removed = remove_path(&mut value, &key);
                // A required key we removed ourselves would now be reported as missing: say nothing more.
                if !(message.starts_with("missing field")
                    && errors.iter().any(|e: &KeyError| is_within(&e.key, &key)))
                {
                    errors.push(KeyError { key, message });
                }
                if !removed {
                    return Err(errors);
                }
            }
        }
    }
    Err(errors)
}

/// True when `inner` is `outer` itself or one of its descendants.
fn is_within(inner: &str, outer: &str) -> bool {
    inner == outer
        || outer.is_empty()
        || inner
            .strip_prefix(outer)
            .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
}

/// One step of a key path.
#[derive(Debug, PartialEq)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// Splits `a.b[0].c` into steps.
fn steps(path: &str) -> Option<Vec<Step<'_>>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (name, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            out.push(Step::Key(name));
        }
        while let Some(stripped) = rest.strip_prefix('[') {
            let end = stripped.find(']')?;
            out.push(Step::Index(stripped[..end].parse().ok()?));
            rest = &stripped[end + 1..];
        }
    }
    Some(out)
}

/// Removes the value at `path`; false when there is nothing there to remove.
fn remove_path(value: &mut toml::Value, path: &str) -> bool {
    let Some(steps) = steps(path) else {
        return false;
    };
    let Some((last, parents)) = steps.split_last() else {
        return false;
    };
    let mut current = value;
    for step in parents {
        let next = match (step, current) {
            (Step::Key(k), toml::Value::Table(t)) => t.get_mut(*k),
            (Step::Index(i), toml::Value::Array(a)) => a.get_mut(*i),
            _ => None,
        };
        match next {
            Some(v) => current = v,
            None => return false,
        }
    }
    match (last, current) {
        (Step::Key(k), toml::Value::Table(t)) => t.remove(*k).is_some(),
        (Step::Index(i), toml::Value::Array(a)) if *i < a.len() => {
            a.remove(*i);
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only deserialized")]
    struct Inner {
        url: String,
        #[serde(default)]
        flag: bool,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only deserialized")]
    struct Outer {
        name: String,
        #[serde(default)]
        items: Vec<Inner>,
    }

    fn parse(text: &str) -> Result<Outer, Vec<KeyError>> {
        deserialize_all(toml::from_str::<toml::Value>(text).unwrap())
    }

    #[test]
    fn reports_every_unknown_and_mistyped_key() {
        let errors = parse(
            "name = 'x'\nnmae = 'y'\n[[items]]\nurl = 'u'\nflag = 'yes'\n[[items]]\nurl = 'v'\nextra = 1\n",
        )
        .unwrap_err();
        let keys: Vec<_> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            ["nmae", "items[0].flag", "items[1].extra"],
            "{errors:?}"
        );
        assert!(errors[0].message.starts_with("unknown field `nmae`"));
        assert!(
            errors[1].message.contains("invalid type"),
            "{}",
            errors[1].message
        );
    }

    #[test]
    fn missing_required_key_is_reported_once() {
        let errors = parse("[[items]]\nflag = true\n").unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].message.starts_with("missing field"), "{errors:?}");
    }

    #[test]
    fn mistyped_required_key_is_not_also_missing() {
        let errors = parse("name = 3\n").unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].key, "name");
    }

    #[test]
    fn a_good_document_parses() {
        let outer = parse("name = 'x'\n[[items]]\nurl = 'u'\n").unwrap();
        assert_eq!(outer.name, "x");
    }
}
