//! The account a support command names (`users export`, `users delete`): a resident's address,
//! an authority user's username, its subject, or its internal id, exactly one of them.

use clap::Args;

use super::failure::Failure;
use crate::domain::Email;
use crate::flows::lookup::Whose;

/// `--email E | --username U | --subject S | --id I`.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct AccountArgs {
    /// The resident's mail address.
    #[arg(long)]
    email: Option<String>,
    /// The authority user's username (for an account without an address too).
    #[arg(long)]
    username: Option<String>,
    /// The account's subject (the `sub` its e-services know; `idp users list` shows it).
    #[arg(long)]
    subject: Option<String>,
    /// The account's internal id (the `user_id` of its audit events, `idp audit export`).
    #[arg(long)]
    id: Option<String>,
}

/// The account [`AccountArgs`] name, its address parsed.
pub enum Named {
    /// By its address.
    Email(Email),
    /// By its username, trimmed.
    Username(String),
    /// By its subject, trimmed.
    Subject(String),
    /// By its internal id, trimmed.
    Id(String),
}

impl AccountArgs {
    /// The account named; an address that is not one is an error.
    pub fn named(&self) -> Result<Named, Failure> {
        let trimmed = |text: &str| text.trim().to_string();
        match (&self.email, &self.username, &self.subject, &self.id) {
            (Some(email), ..) => Ok(Named::Email(Email::parse(email)?)),
            (_, Some(username), ..) => Ok(Named::Username(trimmed(username))),
            (.., Some(subject), _) => Ok(Named::Subject(trimmed(subject))),
            (.., Some(id)) => Ok(Named::Id(trimmed(id))),
            _ => Err(Failure::Other(
                "give --email, --username, --subject or --id".into(),
            )),
        }
    }
}

impl Named {
    /// How the store looks it up.
    pub fn whose(&self) -> Whose<'_> {
        match self {
            Named::Email(email) => Whose::Email(email),
            Named::Username(username) => Whose::Username(username),
            Named::Subject(subject) => Whose::Subject(subject),
            Named::Id(id) => Whose::Id(id),
        }
    }

    /// How a message names it when there is no such account: `with the address E`, `"U"`,
    /// `with the subject S`, `with the id I`.
    pub fn described(&self) -> String {
        match self {
            Named::Email(email) => format!("with the address {email}"),
            Named::Username(username) => format!("\"{username}\""),
            Named::Subject(subject) => format!("with the subject {subject}"),
            Named::Id(id) => format!("with the id {id}"),
        }
    }
}

/// As given: the address as entered, or the username.
impl std::fmt::Display for Named {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Named::Email(email) => email.fmt(f),
            Named::Username(username) => f.write_str(username),
            Named::Subject(subject) => write!(f, "subject {subject}"),
            Named::Id(id) => write!(f, "id {id}"),
        }
    }
}
