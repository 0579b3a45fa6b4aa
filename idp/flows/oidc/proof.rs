//! What a login proved, in the words of RFC 8176 (`amr`), and the `acr` the tenant gives it.
//!
//! A password is `pwd`. A second factor adds its method and `mfa`: a one-time code (or a recovery
//! code, itself a one-time code) `otp`, a passkey `hwk` or `swk`. A passkey alone is `hwk` or
//! `swk` with `mfa`: possession of the key, and the user verified by the authenticator (a PIN or
//! biometrics), which idp requires of passkeys. RFC 8176 has no name for "verified by the
//! authenticator, by a method it does not say" (`user` is a presence test, `pin` and `fpt` name the
//! method), so none is added. A key the authenticator may copy to other devices (backup eligible,
//! a synced passkey) is `swk`, one that cannot leave it `hwk`.

use crate::config::AcrValues;
use crate::telemetry::metrics::LoginOutcome;

/// The methods of a login, in the order they were used, each once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    methods: Vec<String>,
}

impl Proof {
    /// A password (or a mailed link that set one).
    pub fn password() -> Proof {
        Proof {
            methods: vec!["pwd".into()],
        }
    }

    /// A passkey with user verification, alone.
    pub fn passkey(backup_eligible: bool) -> Proof {
        Proof::password_less(key_method(backup_eligible))
    }

    fn password_less(key: &str) -> Proof {
        Proof {
            methods: vec![key.into(), "mfa".into()],
        }
    }

    /// The methods of a session as stored (space-separated).
    pub fn parse(stored: &str) -> Proof {
        let mut proof = Proof {
            methods: Vec::new(),
        };
        for method in stored.split(' ').filter(|m| !m.is_empty()) {
            proof.add(method);
        }
        proof
    }

    /// This proof with a second factor: a one-time code.
    pub fn with_code(mut self) -> Proof {
        self.add("otp");
        self.add("mfa");
        self
    }

    /// This proof with a second factor: a passkey.
    pub fn with_passkey(mut self, backup_eligible: bool) -> Proof {
        self.add(key_method(backup_eligible));
        self.add("mfa");
        self
    }

    fn add(&mut self, method: &str) {
        if !self.methods.iter().any(|m| m == method) {
            self.methods.push(method.to_string());
        }
    }

    /// How the metrics count a login of this proof: a passkey alone, a password and a second
    /// factor, or a password alone.
    pub fn outcome(&self) -> LoginOutcome {
        if !self.methods.iter().any(|m| m == "pwd") {
            LoginOutcome::Passkey
        } else if self.is_mfa() {
            LoginOutcome::SecondFactor
        } else {
            LoginOutcome::Succeeded
        }
    }

    /// Whether the login had two factors.
    pub fn is_mfa(&self) -> bool {
        self.methods.iter().any(|m| m == "mfa")
    }

    /// The methods as stored and as the `amr` claim's members (space-separated).
    pub fn stored(&self) -> String {
        self.methods.join(" ")
    }

    /// The tenant's `acr` value of this login.
    pub fn acr<'a>(&self, acr: &'a AcrValues) -> &'a str {
        if self.is_mfa() {
            &acr.mfa
        } else {
            &acr.password
        }
    }
}

fn key_method(backup_eligible: bool) -> &'static str {
    if backup_eligible { "swk" } else { "hwk" }
}

/// Whether a login of `proof` meets what a request asked for with `acr_values` (or the `acr`
/// claim): an empty list asks nothing; of the values the tenant knows, any the login reaches will
/// do. Values the tenant does not know are left out of a wish (OIDC Core §3.1.2.1: voluntary), but
/// an `essential` list that names none the tenant knows can never be met (§5.5.1.1: the `acr`
/// returned must be one of them).
pub fn meets(proof: &Proof, asked: &[String], acr: &AcrValues, essential: bool) -> bool {
    let known: Vec<&String> = asked
        .iter()
        .filter(|v| **v == acr.password || **v == acr.mfa)
        .collect();
    if known.is_empty() {
        return asked.is_empty() || !essential;
    }
    known.iter().any(|v| **v == acr.password) || proof.is_mfa()
}

#[cfg(test)]
mod tests {
    use super::{Proof, meets};
    use crate::config::AcrValues;

    #[test]
    fn methods_are_named_as_rfc_8176_names_them() {
        assert_eq!(Proof::password().stored(), "pwd");
        assert_eq!(Proof::password().with_code().stored(), "pwd otp mfa");
        assert_eq!(
            Proof::password().with_passkey(false).stored(),
            "pwd hwk mfa"
        );
        assert_eq!(Proof::passkey(true).stored(), "swk mfa");
        assert_eq!(Proof::parse("pwd  otp mfa otp").stored(), "pwd otp mfa");
        assert!(!Proof::parse("pwd").is_mfa());
        assert!(Proof::parse("hwk mfa").is_mfa());
    }

    #[test]
    fn acr_values_ask_for_a_level_the_tenant_knows() {
        let acr = AcrValues::default();
        let mfa = vec![acr.mfa.clone()];
        let either = vec![acr.mfa.clone(), acr.password.clone()];
        let unknown = vec!["urn:other".to_string()];
        for essential in [false, true] {
            assert!(!meets(&Proof::password(), &mfa, &acr, essential));
            assert!(meets(&Proof::password().with_code(), &mfa, &acr, essential));
            assert!(meets(&Proof::password(), &either, &acr, essential));
            assert!(meets(&Proof::password(), &[], &acr, essential));
        }
        // Values the tenant does not know: a wish is left out, an essential one is never met.
        assert!(meets(&Proof::password(), &unknown, &acr, false));
        assert!(!meets(&Proof::password(), &unknown, &acr, true));
        assert!(!meets(&Proof::passkey(false), &unknown, &acr, true));
        assert_eq!(Proof::password().acr(&acr), acr.password);
        assert_eq!(Proof::passkey(false).acr(&acr), acr.mfa);
    }
}
