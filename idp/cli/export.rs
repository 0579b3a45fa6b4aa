//! `idp users export --tenant T --email E | --username U`: everything idp holds about one user,
//! printed to standard output as the account page's download gives it (`flows::export`, the
//! format `idp-export/1` of docs/privacy.md), for support answering a resident's request in
//! writing. Audited as `account.exported` with `{"by": "cli"}`.

use std::io::Write;

use clap::Args;

use super::account::AccountArgs;
use super::failure::Failure;
use super::tenant::minter;
use crate::config::Config;
use crate::flows::export::{self, Asker};
use crate::store::Store;

/// Whose data: a resident's address or an authority user's username.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The tenant's id.
    #[arg(long)]
    tenant: String,
    #[command(flatten)]
    account: AccountArgs,
}

/// Prints the export of the user `args` names; an unknown user is an error (exit status 1).
pub fn run(config: &Config, args: &ExportArgs) -> Result<(), Failure> {
    let m = minter(config, &args.tenant)?;
    let named = args.account.named()?;
    let store = Store::open(&config.settings.database)?;
    let mut conn = store.conn()?;
    let Some(document) = export::export(&m, &mut conn, named.whose(), Asker::Cli)? else {
        let (named, tenant) = (named.described(), &args.tenant);
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
