//! The account a support command names (`users export`, `users delete`): a resident's address,
//! or an authority user's username, exactly one of the two.

use clap::Args;

use super::failure::Failure;
use crate::domain::Email;
use crate::flows::lookup::Whose;

/// `--email E | --username U`.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct AccountArgs {
    /// The resident's mail address.
    #[arg(long)]
    email: Option<String>,
    /// The authority user's username (for an account without an address too).
    #[arg(long)]
    username: Option<String>,
}

/// The account [`AccountArgs`] name, its address parsed.
pub enum Named {
    /// By its address.
    Email(Email),
    /// By its username, trimmed.
    Username(String),
}

impl AccountArgs {
    /// The account named; an address that is not one is an error.
    pub fn named(&self) -> Result<Named, Failure> {
        match (self.email.as_deref(), self.username.as_deref()) {
            (Some(email), _) => Ok(Named::Email(Email::parse(email)?)),
            (None, Some(username)) => Ok(Named::Username(username.trim().to_string())),
            (None, None) => Err(Failure::Other("give --email or --username".into())),
        }
    }
}

impl Named {
    /// How the store looks it up.
    pub fn whose(&self) -> Whose<'_> {
        match self {
            Named::Email(email) => Whose::Email(email),
            Named::Username(username) => Whose::Username(username),
        }
    }

    /// How a message names it when there is no such account: `with the address E`, `"U"`.
    pub fn described(&self) -> String {
        match self {
            Named::Email(email) => format!("with the address {email}"),
            Named::Username(username) => format!("\"{username}\""),
        }
    }
}

/// As given: the address as entered, or the username.
impl std::fmt::Display for Named {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Named::Email(email) => email.fmt(f),
            Named::Username(username) => f.write_str(username),
        }
    }
}
