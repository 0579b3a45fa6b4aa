//! `idp users delete --tenant T --email E | --username U [--now]`: support's deletion of an
//! account, a resident's by its address or an authority user's (with or without one) by its
//! username. Without
//! `--now` it is the account page's request (docs/privacy.md): everything ended, the account
//! disabled, the undo link mailed to the account's address, the erasure due after the tenant's
//! `[deletion] undo_days`. With `--now` the account is erased at once, and SQLite's WAL emptied
//! (`store::erasure::clear_wal`). Both are audited with `"by": "cli"`.

use clap::Args;

use super::account::{AccountArgs, Named};
use super::failure::Failure;
use super::tenant::minter;
use crate::flows::deletion::{self, Requested};
use crate::flows::lookup::find_user;
use crate::mail::Mails;
use crate::store::erasure::{self, WalCleared};
use crate::store::{Store, Tenant};

/// `idp users delete`
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The tenant's id.
    #[arg(long)]
    tenant: String,
    #[command(flatten)]
    account: AccountArgs,
    /// Erase at once, without the grace period and its undo link.
    #[arg(long)]
    now: bool,
}

/// Runs `idp users delete`.
pub fn run(config: &crate::config::Config, args: &DeleteArgs) -> Result<(), Failure> {
    let m = minter(config, &args.tenant)?;
    let named = args.account.named()?;
    let store = Store::open(&config.settings.database)?;
    let mut conn = store.conn()?;
    let user = find_user(&mut conn, Tenant::of(m.tenant), named.whose())?.ok_or_else(|| {
        let (named, tenant) = (named.described(), &args.tenant);
        Failure::Other(format!("no account {named} in tenant {tenant}"))
    })?;
    if args.now {
        // The pseudonym is not printed: beside the address, in a terminal's or a ticket's log, it
        // would tie the erased account's whole trail to the person again.
        deletion::erase_now(&m, &mut conn, &user, "cli")?
            .ok_or_else(|| Failure::Other("the account is erased already".into()))?;
        // The erased values out of SQLite's WAL too; the erasure stands when that cannot be done.
        if let WalCleared::Unfinished(why) = erasure::clear_wal(&mut conn) {
            eprintln!(
                "warning: the erased values stay in the SQLite WAL until it is overwritten or \
                 checkpointed ({why}); docs/operations.md says how to empty it"
            );
        }
        println!(
            "erased the account of {named} in {}: its subject stays as a tombstone, its audit events now name a pseudonym",
            args.tenant
        );
        return Ok(());
    }
    let mails = Mails::load(config.settings.templates.dir.as_deref())?;
    let language = user
        .locale
        .as_deref()
        .and_then(|tag| m.tenant.languages.iter().find(|l| l.tag() == tag))
        .or(m.tenant.languages.first())
        .copied()
        .unwrap_or(crate::config::Language::Fi);
    match deletion::request(&m, &mut conn, &mails, &user, language, "cli")? {
        Requested::Done { erase_at, mail } => {
            // Mailed to the account's address: the one support gave, as given, or an authority
            // user's own.
            let address = match &named {
                Named::Email(email) => Some(email.as_entered()),
                Named::Username(_) | Named::Subject(_) | Named::Id(_) => user.email.as_deref(),
            };
            let undo = match mail.and(address) {
                Some(address) => format!("the link mailed to {address} undoes it until then"),
                None => "the account has no address: no undo link was mailed".into(),
            };
            println!(
                "deletion of {named} in {} requested: erased on {}; {undo}",
                args.tenant,
                erase_at.format("%Y-%m-%d %H:%M UTC"),
            );
            Ok(())
        }
        Requested::Already(erase_at) => Err(Failure::Other(format!(
            "the account is being deleted already (erased on {}, or erased)",
            erase_at.format("%Y-%m-%d %H:%M UTC")
        ))),
    }
}
