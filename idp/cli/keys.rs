//! `idp keys rotate | list`.

use clap::Subcommand;

use super::failure::Failure;
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, SigningAlg};
use crate::crypto::keys::alg_name;
use crate::flows::keys::{self, ALGORITHMS};
use crate::store::Store;

/// `idp keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Add a signing key, published at once, signing after keys.activation_delay_seconds; the key
    /// it replaces stays published until every token it signed has expired.
    Rotate {
        /// The tenant's id.
        #[arg(long)]
        tenant: String,
        /// The algorithm; all three when omitted.
        #[arg(long, value_enum)]
        alg: Option<AlgArg>,
    },
    /// List a tenant's published keys.
    List {
        /// The tenant's id.
        #[arg(long)]
        tenant: String,
    },
}

/// An algorithm on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum AlgArg {
    /// RSA-2048, RS256.
    #[value(name = "RS256")]
    Rs256,
    /// P-256, ES256.
    #[value(name = "ES256")]
    Es256,
    /// Ed25519, EdDSA.
    #[value(name = "EdDSA")]
    EdDsa,
}

impl From<AlgArg> for SigningAlg {
    fn from(alg: AlgArg) -> Self {
        match alg {
            AlgArg::Rs256 => SigningAlg::RS256,
            AlgArg::Es256 => SigningAlg::ES256,
            AlgArg::EdDsa => SigningAlg::EdDSA,
        }
    }
}

pub fn run(config: &Config, command: KeysCommand) -> Result<(), Failure> {
    match command {
        KeysCommand::Rotate { tenant, alg } => rotate(config, &tenant, alg.map(SigningAlg::from)),
        KeysCommand::List { tenant } => list(config, &tenant),
    }
}

fn rotate(config: &Config, tenant: &str, alg: Option<SigningAlg>) -> Result<(), Failure> {
    super::users::known_tenant(config, tenant)?;
    let algs: Vec<SigningAlg> = match alg {
        None => ALGORITHMS.to_vec(),
        Some(alg) => vec![alg],
    };
    // On a public server, the development key only where `serve` would take it: without this,
    // a rotation run where the key's variable is missing (sudo, cron) sealed a fresh database's
    // keys with a development key it created, and no node could start.
    let development: Vec<_> = config
        .unsafe_for_production()
        .into_iter()
        .filter(|problem| problem.key == "keys.encryption_key")
        .collect();
    if !development.is_empty() {
        return Err(Failure::Config(crate::config::Problems(development)));
    }
    let kek = keys::key_encryption_key(config)?;
    let store = Store::open(&config.settings.database)?;
    let mut conn = store.conn()?;
    // A key sealed with another key-encryption key would break every node: check first that
    // this one opens the keys already stored.
    keys::load(&mut conn, &kek, config, SystemClock.now()).map_err(|e| {
        Failure::Other(format!(
            "{e}: keys.encryption_key (IDP__KEYS__ENCRYPTION_KEY) must be the one the nodes use"
        ))
    })?;
    // A tenant rotated before its first start gets its current keys first.
    keys::ensure(&mut conn, &kek, config, SystemClock.now())?;
    for alg in algs {
        let (kid, activates_at) =
            keys::rotate(&mut conn, &kek, config, tenant, alg, SystemClock.now())?;
        println!(
            "{tenant}: new {} key {kid}, published now, signing from {} UTC",
            alg_name(alg),
            activates_at.format("%Y-%m-%d %H:%M:%S")
        );
    }
    Ok(())
}

fn list(config: &Config, tenant: &str) -> Result<(), Failure> {
    let tenant = super::users::known_tenant(config, tenant)?;
    let store = Store::open(&config.settings.database)?;
    let mut conn = store.conn()?;
    let rows = crate::store::keys::published_since(&mut conn, tenant, SystemClock.now())?;
    println!(
        "{:<43}  {:<5}  {:<19}  {:<19}  UNPUBLISHED",
        "KID", "ALG", "SIGNS FROM", "RETIRED"
    );
    let time = |t: Option<chrono::NaiveDateTime>| {
        t.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_else(|| "-".into())
    };
    for row in &rows {
        println!(
            "{:<43}  {:<5}  {:<19}  {:<19}  {}",
            row.kid,
            row.alg,
            time(Some(row.activates_at)),
            time(row.retired_at),
            time(row.expires_at)
        );
    }
    Ok(())
}
