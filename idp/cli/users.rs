//! `idp users add | list | reset-second-factor | end-sessions | cancel-deletion | export |
//! delete` (`support.rs`, `export.rs` and `delete.rs` hold the last four).

use std::io::{BufRead, Write};

use clap::Subcommand;
use secrecy::SecretString;

use super::failure::Failure;
use super::tenant::{minter, tenant_config};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::domain::{Email, NewPassword};
use crate::flows::second_factor;
use crate::flows::users::{self, AddUser};
use crate::store::{Store, Tenant};

/// `idp users …`
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Add a resident, whose username is their mail address, or an authority user.
    Add {
        /// The tenant's id.
        #[arg(long)]
        tenant: String,
        /// The mail address (a resident's username).
        #[arg(long, required_unless_present = "authority")]
        email: Option<String>,
        /// An authority user, who logs in with `--username` as before.
        #[arg(long, requires = "username")]
        authority: bool,
        /// The authority user's username.
        #[arg(long, requires = "authority")]
        username: Option<String>,
        /// The display name.
        #[arg(long)]
        name: Option<String>,
        /// Read the password from the first line of standard input (else the user has none yet
        /// and sets one through "forgot password").
        #[arg(long)]
        password_stdin: bool,
    },
    /// List a tenant's users.
    List {
        /// The tenant's id.
        #[arg(long)]
        tenant: String,
    },
    /// Remove a user's second factors (one-time code, recovery codes, passkeys) and end their
    /// sessions and grants, for a user who lost them; audited. Where the tenant requires a second
    /// factor, the next login enrols a new one.
    ResetSecondFactor {
        /// The tenant's id.
        #[arg(long)]
        tenant: String,
        /// The authority user's username (or a resident's address).
        #[arg(long)]
        username: String,
    },
    /// End every session, grant, consent and pending mailed link of an account, as "sign out
    /// everywhere" does, and with `--forget-password` its password too; audited. For a resident
    /// whose account someone else may hold, and after a restore (docs/operations.md).
    EndSessions(super::support::EndSessionsArgs),
    /// Cancel an account's pending deletion, as its undo link does; audited. After a restore, a
    /// deletion undone after the backup is pending again (docs/operations.md).
    CancelDeletion(super::support::CancelDeletionArgs),
    /// Print everything idp holds about a user as JSON (`idp-export/1`, the account page's "My
    /// data" download, docs/privacy.md); audited.
    Export(super::export::ExportArgs),
    /// Delete an account as its owner can on the account page: sessions and grants ended, the
    /// account disabled, an undo link mailed to its address, the erasure after the tenant's
    /// `[deletion] undo_days`; with `--now` erased at once. Audited.
    Delete(super::delete::DeleteArgs),
}

pub fn run(config: &Config, command: UsersCommand) -> Result<(), Failure> {
    match command {
        UsersCommand::Add {
            tenant,
            email,
            authority: _,
            username,
            name,
            password_stdin,
        } => add(
            config,
            &tenant,
            email.as_deref(),
            username.as_deref(),
            name.as_deref(),
            password_stdin,
        ),
        UsersCommand::List { tenant } => list(config, &tenant),
        UsersCommand::ResetSecondFactor { tenant, username } => {
            reset_second_factor(config, &tenant, &username)
        }
        UsersCommand::EndSessions(args) => super::support::end_sessions(config, &args),
        UsersCommand::CancelDeletion(args) => super::support::cancel_deletion(config, &args),
        UsersCommand::Export(args) => super::export::run(config, &args),
        UsersCommand::Delete(args) => super::delete::run(config, &args),
    }
}

/// The configured tenant `tenant`, as the store takes it.
pub(super) fn known_tenant<'c>(config: &'c Config, tenant: &str) -> Result<Tenant<'c>, Failure> {
    tenant_config(config, tenant).map(Tenant::of)
}

fn add(
    config: &Config,
    tenant: &str,
    email: Option<&str>,
    username: Option<&str>,
    name: Option<&str>,
    password_stdin: bool,
) -> Result<(), Failure> {
    let key = known_tenant(config, tenant)?;
    let email = email.map(Email::parse).transpose()?;
    if let Some(username) = username
        && !users::valid_username(username.trim())
    {
        return Err(Failure::Other(format!(
            "\"{username}\" is not a username: 1–64 characters, no spaces, no @"
        )));
    }
    let username = username.map(str::trim);
    let password_hash = if password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Failure::Other(format!("cannot read the password: {e}")))?;
        let password = line.trim_end_matches(['\r', '\n']).to_string();
        let password = NewPassword::parse(SecretString::from(password))?;
        Some(users::hash_password(&password)?)
    } else {
        None
    };
    let store = Store::open(&config.settings.database)?;
    let mut conn = store.conn()?;
    let user = users::add(
        &mut conn,
        SystemClock.now(),
        &AddUser {
            tenant: key,
            email: email.as_ref(),
            username,
            name,
            password_hash: password_hash.as_deref(),
            email_verified: true,
        },
    )?;
    let who = match (&email, username) {
        (Some(email), _) => email.to_string(),
        (None, Some(username)) => format!("authority user {username}"),
        (None, None) => String::new(),
    };
    println!(
        "added {} to {} (subject {}{})",
        who,
        tenant,
        user.subject,
        if password_hash.is_some() {
            ""
        } else {
            ", no password yet"
        }
    );
    Ok(())
}

fn list(config: &Config, tenant: &str) -> Result<(), Failure> {
    let key = known_tenant(config, tenant)?;
    let store = Store::open(&config.settings.database)?;
    let mut conn = store.conn()?;
    let rows = users::list(&mut conn, key)?;
    // Every resident's address, name and subject leave the database: the trail says when, before
    // the first line is printed (a reader that stops early, `| head`, still read some).
    crate::store::audit::Event::new(key.id(), SystemClock.now(), "users.listed")
        .detail(&serde_json::json!({ "by": "cli", "count": rows.len() }))
        .record(&mut conn)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    writeln!(
        out,
        "{:<36}  {:<32}  {:<8}  {:<9}  {:<19}  NAME",
        "SUBJECT", "EMAIL", "VERIFIED", "PASSWORD", "CREATED"
    )?;
    for user in &rows {
        let password = match user.password_hash.as_deref() {
            Some(phc) => phc.split('$').nth(1).unwrap_or("unknown"),
            None => "none",
        };
        writeln!(
            out,
            "{:<36}  {:<32}  {:<8}  {:<9}  {:<19}  {}",
            user.subject,
            user.email
                .as_deref()
                .or(user.username.as_deref())
                .unwrap_or("-"),
            if user.email_verified { "yes" } else { "no" },
            password,
            user.created_at.format("%Y-%m-%d %H:%M:%S"),
            user.name.as_deref().unwrap_or("")
        )?;
    }
    match rows.len() {
        1 => writeln!(out, "1 user")?,
        n => writeln!(out, "{n} users")?,
    }
    out.flush()?;
    Ok(())
}

fn reset_second_factor(config: &Config, tenant: &str, username: &str) -> Result<(), Failure> {
    let m = minter(config, tenant)?;
    let store = Store::open(&config.settings.database)?;
    let mut conn = store.conn()?;
    let reset = second_factor::reset(&m, &mut conn, username)?;
    println!(
        "reset the second factor of {} in {tenant}: one-time code {}, {} recovery codes, {} passkeys removed; {} sessions ended",
        reset.who,
        if reset.totp { "removed" } else { "none" },
        reset.recovery_codes,
        reset.passkeys,
        reset.sessions,
    );
    Ok(())
}
