//! `idp users export --tenant T --email E | --username U`: everything idp holds about one user,
//! printed to standard output as the account page's download gives it (`flows::export`, the
//! format `idp-export/1` of docs/privacy.md), for support answering a resident's request in
//! writing. Audited as `account.exported` with `{"by": "cli"}`.

use std::io::Write;

use clap::Args;

use super::failure::Failure;
use super::tenant::minter;
use crate::config::Config;
use crate::domain::Email;
use crate::flows::export::{self, Asker, Whose};
use crate::store::Store;

/// Whose data: a resident's address or an authority user's username.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The tenant's id.
    #[arg(long)]
    tenant: String,
    /// The resident's mail address.
    #[arg(
        long,
        required_unless_present = "username",
        conflicts_with = "username"
    )]
    email: Option<String>,
    /// The authority user's username.
    #[arg(long)]
    username: Option<String>,
}

/// Prints the export of the user `args` names; an unknown user is an error (exit status 1).
pub fn run(config: &Config, args: &ExportArgs) -> Result<(), Failure> {
    let m = minter(config, &args.tenant)?;
    let email = args.email.as_deref().map(Email::parse).transpose()?;
    let (whose, named) = match (&email, args.username.as_deref()) {
        (Some(email), _) => (Whose::Email(email), format!("with the address {email}")),
        (None, Some(username)) => (
            Whose::Username(username),
            format!("\"{}\"", username.trim()),
        ),
        (None, None) => return Err(Failure::Other("give --email or --username".into())),
    };
    let store = Store::open(&config.settings.database)?;
    let mut conn = store.conn()?;
    let Some(document) = export::export(&m, &mut conn, whose, Asker::Cli)? else {
        let tenant = &args.tenant;
        return Err(Failure::Other(format!(
            "no user {named} in tenant {tenant}"
        )));
    };
    let mut json = document.to_json()?;
    json.push('\n');
    std::io::stdout()
        .lock()
        .write_all(json.as_bytes())
        .map_err(|e| Failure::Other(format!("cannot write the export: {e}")))
}
