//! A mail address as residents type it, and its normalised form used for lookups.
//!
//! One rule for every address idp takes (forms, the legacy import, the command line): an address
//! is accepted only when idp's parser **and** lettre's (which sends the mail) both accept it, with
//! IP literals (`a@[127.0.0.1]`) and quoted local parts refused. An accepted address can therefore
//! always be written into a mail, and never ends as a mail retried until it is dropped.

use std::fmt;
use std::str::FromStr;

use unicode_normalization::UnicodeNormalization;

use super::text::lookup_key;

/// A valid mail address.
///
/// `as_entered` is what the resident typed, trimmed and NFKC-normalised (full-width and other
/// compatibility forms folded, so a look-alike is the same address); it is what is stored and
/// what mail is sent to. `normalized` (also lowercased) is what is unique per tenant and what every
/// lookup compares, at login, registration and import alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    as_entered: String,
    normalized: String,
}

/// Why a string is not an [`Email`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// Nothing was given.
    #[error("the mail address is empty")]
    Empty,
    /// Longer than RFC 5321 allows.
    #[error("the mail address is longer than 254 characters")]
    TooLong,
    /// Not of the form local@domain.
    #[error("\"{0}\" is not a mail address")]
    Invalid(String),
}

impl Email {
    /// Trims, checks and normalises `input`.
    pub fn parse(input: &str) -> Result<Email, EmailError> {
        // Measured before and after folding: NFKC can lengthen a string many times over.
        if input.len() > 4 * MAX_CHARS {
            return Err(EmailError::TooLong);
        }
        let folded: String = input.trim().nfkc().collect();
        let trimmed = folded.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }
        if trimmed.chars().count() > MAX_CHARS {
            return Err(EmailError::TooLong);
        }
        if !acceptable(trimmed) {
            return Err(EmailError::Invalid(trimmed.to_string()));
        }
        Ok(Email {
            as_entered: trimmed.to_string(),
            normalized: normalize(trimmed),
        })
    }

    /// The address as typed, trimmed.
    pub fn as_entered(&self) -> &str {
        &self.as_entered
    }

    /// The lowercased address: the lookup and uniqueness key.
    pub fn normalized(&self) -> &str {
        &self.normalized
    }

    /// Whether the address can be given to an account now (registration, a change of address, a
    /// claim's own address): its domain has a dot. `x@localhost` or `root@relay` is a mailbox of
    /// the relay's own host at best, which anyone could have idp write to. Only for addresses
    /// given on the pages: an old system's export may hold internal addresses of that shape,
    /// whose accounts still log in and reset.
    pub fn can_be_given(&self) -> bool {
        self.normalized
            .rsplit_once('@')
            .is_some_and(|(_, domain)| domain.trim_end_matches('.').contains('.'))
            && domain_has_an_ascii_form(&self.as_entered)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_entered)
    }
}

/// The longest address (RFC 5321 §4.5.3.1.3 less the angle brackets).
const MAX_CHARS: usize = 254;

/// Whether both idp's rule and lettre's accept `address` (trimmed and folded already).
fn acceptable(address: &str) -> bool {
    // Display names, comments, quoted local parts and IP literals are valid in RFC 5322 but not
    // as a username, and no control character is ever part of one.
    let plain = !address.contains(['<', '>', '(', ')', ' ', ',', ';', '"', '\\', '[', ']'])
        && !address.chars().any(char::is_control);
    plain
        && email_address::EmailAddress::is_valid(address)
        && lettre::Address::from_str(address).is_ok()
}

/// Whether the domain of `address`, when it is not ASCII, has an ASCII form (UTS #46) that DNS
/// can hold (labels of 63 characters at the most, 253 in all): its mail goes to that form
/// ([`with_ascii_domain`]), and to a domain without one no mail can go.
fn domain_has_an_ascii_form(address: &str) -> bool {
    match address.rsplit_once('@') {
        Some((_, domain)) if !domain.is_ascii() => idna::domain_to_ascii(domain)
            .is_ok_and(|ascii| idna::uts46::verify_dns_length(&ascii, false)),
        _ => true,
    }
}

/// The lookup key of an address: trimmed, NFKC-normalised and lowercased (Unicode-aware), as
/// every identifier's ([`lookup_key`]).
pub fn normalize(address: &str) -> String {
    lookup_key(address)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_domain_with_a_dot_is_given_to_an_account() {
        for given in ["a@testi.fi", "a@sub.kunta.fi"] {
            assert!(Email::parse(given).unwrap().can_be_given(), "{given}");
        }
        for internal in ["a@localhost", "root@relay", "a@intranet."] {
            let Ok(email) = Email::parse(internal) else {
                continue;
            };
            assert!(!email.can_be_given(), "{internal}");
        }
    }

    #[test]
    fn trims_and_lowercases() {
        let email = Email::parse("  Esimerkki.Erkki@Testi.FI \n").unwrap();
        assert_eq!(email.as_entered(), "Esimerkki.Erkki@Testi.FI");
        assert_eq!(email.normalized(), "esimerkki.erkki@testi.fi");
    }

    #[test]
    fn a_domain_without_an_ascii_form_dns_can_hold_is_not_given() {
        // 58 "a" and an "ä": 60 bytes of label as typed, 66 characters in punycode. An old
        // account's address of that form still logs in (its key is consistent); the pages give
        // it to no account.
        let long = Email::parse(&format!("a@{}ä.fi", "a".repeat(58))).unwrap();
        assert!(!long.can_be_given());
        assert!(
            Email::parse(&format!("a@{}ä.fi", "a".repeat(50)))
                .unwrap()
                .can_be_given()
        );
    }

    #[test]
    fn lowercases_non_ascii_and_keys_a_domain_in_ascii() {
        let email = Email::parse("ÄIJÄ@Kylä.fi").unwrap();
        assert_eq!(email.normalized(), "äijä@xn--kyl-sla.fi");
        assert_eq!(email.as_entered(), "ÄIJÄ@Kylä.fi");
        // What Chromium sends for the same address typed into an `type="email"` field.
        let sent = Email::parse("ÄIJÄ@xn--kyl-sla.fi").unwrap();
        assert_eq!(sent.normalized(), email.normalized());
    }

    #[test]
    fn rejects_what_is_not_an_address() {
        assert_eq!(Email::parse("   "), Err(EmailError::Empty));
        assert_eq!(
            Email::parse("erkki"),
            Err(EmailError::Invalid("erkki".into()))
        );
        assert_eq!(
            Email::parse("Erkki <erkki@testi.fi>"),
            Err(EmailError::Invalid("Erkki <erkki@testi.fi>".into()))
        );
        let long = format!("{}@testi.fi", "a".repeat(250));
        assert_eq!(Email::parse(&long), Err(EmailError::TooLong));
    }

    #[test]
    fn refuses_what_lettre_cannot_send() {
        for refused in [
            "a@[127.0.0.1]",
            "a@[IPv6:::1]",
            "\"a\\b\"@testi.fi",
            "\"a b\"@testi.fi",
            "a\u{0}b@testi.fi",
            "a\rb@testi.fi",
            "a@testi.fi\nBcc: x@y.fi",
            "a\u{7f}@testi.fi",
        ] {
            assert!(
                matches!(Email::parse(refused), Err(EmailError::Invalid(_))),
                "{refused:?} was accepted"
            );
        }
    }

    #[test]
    fn folds_full_width_forms() {
        let wide = Email::parse("ｅｒｋｋｉ＠ｔｅｓｔｉ．ｆｉ").unwrap();
        assert_eq!(wide.as_entered(), "erkki@testi.fi");
        assert_eq!(wide.normalized(), "erkki@testi.fi");
        assert_eq!(normalize(" ＥＲＫＫＩ@testi.fi"), "erkki@testi.fi");
    }

    #[test]
    fn a_huge_input_is_too_long() {
        assert_eq!(Email::parse(&"a".repeat(100_000)), Err(EmailError::TooLong));
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            /// Whatever is typed: no panic, and an accepted address is one lettre can send, is
            /// stable under parsing again, and its key is its lowercased form.
            #[test]
            fn any_text(input in "\\PC{0,80}|[a-zA-Z0-9.+_\\-\"\\[\\]@\\\\ ]{0,40}") {
                if let Ok(email) = Email::parse(&input) {
                    prop_assert!(lettre::Address::from_str(email.as_entered()).is_ok());
                    let again = Email::parse(email.as_entered());
                    prop_assert_eq!(again.as_ref(), Ok(&email));
                    prop_assert_eq!(email.normalized(), normalize(&input));
                }
            }

            /// Ordinary addresses are accepted as they are.
            #[test]
            fn ordinary(local in "[a-z0-9][a-z0-9._+-]{0,20}[a-z0-9]", domain in "[a-z0-9]{1,20}\\.[a-z]{2,6}") {
                prop_assume!(!local.contains(".."));
                let address = format!("{local}@{domain}");
                let email = Email::parse(&address);
                prop_assert_eq!(email.map(|e| e.as_entered().to_string()), Ok(address));
            }
        }
    }
}
