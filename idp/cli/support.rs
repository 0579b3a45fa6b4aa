//! `idp users end-sessions` and `idp users cancel-deletion`: support's recoveries of an account,
//! and what a restore asks to be done again (docs/operations.md, "After a restore").

use clap::Args;

use super::account::AccountArgs;
use super::failure::Failure;
use super::tenant::minter;
use crate::flows::context::Minter;
use crate::flows::deletion::undo;
use crate::flows::lookup::find_user;
use crate::flows::support;
use crate::store::users::UserRow;
use crate::store::{DbConnection, Store, Tenant};

/// `idp users end-sessions`
#[derive(Debug, Args)]
pub struct EndSessionsArgs {
    /// The tenant's id.
    #[arg(long)]
    tenant: String,
    #[command(flatten)]
    account: AccountArgs,
    /// Forget the password too: its owner sets a new one through "forgot password" (an account
    /// with an address only).
    #[arg(long)]
    forget_password: bool,
}

/// `idp users cancel-deletion`
#[derive(Debug, Args)]
pub struct CancelDeletionArgs {
    /// The tenant's id.
    #[arg(long)]
    tenant: String,
    #[command(flatten)]
    account: AccountArgs,
}

/// Runs `then` on the account `account` names in `tenant`, on a connection of its own.
fn with_account(
    config: &crate::config::Config,
    tenant: &str,
    account: &AccountArgs,
    then: impl FnOnce(&Minter<'_>, &mut DbConnection, UserRow) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let m = minter(config, tenant)?;
    let named = account.named()?;
    let store = Store::open(&config.settings.database)?;
    let mut conn = store.conn()?;
    let user = find_user(&mut conn, Tenant::of(m.tenant), named.whose())?.ok_or_else(|| {
        let named = named.described();
        Failure::Other(format!("no account {named} in tenant {tenant}"))
    })?;
    then(&m, &mut conn, user)
}

/// Runs `idp users end-sessions`.
pub fn end_sessions(config: &crate::config::Config, args: &EndSessionsArgs) -> Result<(), Failure> {
    with_account(config, &args.tenant, &args.account, |m, conn, user| {
        if args.forget_password && user.email.is_none() {
            return Err(Failure::Other(
                "the account has no address: its owner could not set a new password through \
                 \"forgot password\"; leave out --forget-password"
                    .into(),
            ));
        }
        let ended = support::end_sessions(m, conn, &user, args.forget_password)?
            .ok_or_else(|| Failure::Other("the account is erased".into()))?;
        println!(
            "ended everything of the account {} in {}: {} session(s), its grants, consents and \
             pending links{}",
            user.subject,
            args.tenant,
            ended.sessions,
            if ended.password {
                "; its password is forgotten (its owner sets a new one through \"forgot password\")"
            } else {
                ""
            }
        );
        Ok(())
    })
}

/// Runs `idp users cancel-deletion`.
pub fn cancel_deletion(
    config: &crate::config::Config,
    args: &CancelDeletionArgs,
) -> Result<(), Failure> {
    with_account(config, &args.tenant, &args.account, |m, conn, user| {
        if undo::cancel_pending(m, conn, &user.id, "cli")? {
            println!(
                "cancelled the deletion of the account {} in {}: it is enabled again (unless it \
                 was disabled before the deletion was asked for)",
                user.subject, args.tenant
            );
            Ok(())
        } else {
            Err(Failure::Other(format!(
                "the account {} in {} has no pending deletion",
                user.subject, args.tenant
            )))
        }
    })
}
