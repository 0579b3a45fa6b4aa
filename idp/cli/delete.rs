//! `idp users delete --tenant T --email E [--now]`: support's deletion of an account. Without
//! `--now` it is the account page's request (docs/privacy.md): everything ended, the account
//! disabled, the undo link mailed to the account's address, the erasure due after the tenant's
//! `[deletion] undo_days`. With `--now` the account is erased at once, and SQLite's WAL emptied
//! (`store::erasure::clear_wal`). Both are audited with `"by": "cli"`.

use clap::Args;

use super::failure::Failure;
use super::tenant::minter;
use crate::domain::Email;
use crate::flows::deletion::{self, Requested};
use crate::mail::Mails;
use crate::store::erasure::{self, WalCleared};
use crate::store::{Store, Tenant, users};

/// `idp users delete`
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The tenant's id.
    #[arg(long)]
    tenant: String,
    /// The account's mail address.
    #[arg(long)]
    email: String,
    /// Erase at once, without the grace period and its undo link.
    #[arg(long)]
    now: bool,
}

/// Runs `idp users delete`.
pub fn run(config: &crate::config::Config, args: &DeleteArgs) -> Result<(), Failure> {
    let m = minter(config, &args.tenant)?;
    let email = Email::parse(&args.email)?;
    let store = Store::open(&config.settings.database)?;
    let mut conn = store.conn()?;
    let user = users::find_by_email(&mut conn, Tenant::of(m.tenant), email.normalized())?
        .ok_or_else(|| {
            Failure::Other(format!(
                "no account with the address {} in tenant {}",
                email.as_entered(),
                args.tenant
            ))
        })?;
    if args.now {
        let pseudonym = deletion::erase_now(&m, &mut conn, &user, "cli")?
            .ok_or_else(|| Failure::Other("the account is erased already".into()))?;
        // The erased values out of SQLite's WAL too; the erasure stands when that cannot be done.
        if let WalCleared::Unfinished(why) = erasure::clear_wal(&mut conn) {
            eprintln!(
                "warning: the erased values stay in the SQLite WAL until it is overwritten or \
                 checkpointed ({why}); docs/operations.md says how to empty it"
            );
        }
        println!(
            "erased the account of {} in {}: its subject stays as a tombstone, its audit events now name {pseudonym}",
            email.as_entered(),
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
            let undo = match mail {
                Some(_) => format!(
                    "the link mailed to {} undoes it until then",
                    email.as_entered()
                ),
                None => "the account has no address: no undo link was mailed".into(),
            };
            println!(
                "deletion of {} in {} requested: erased on {}; {undo}",
                email.as_entered(),
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
