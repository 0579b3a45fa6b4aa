//! `idp clients list --tenant T`: a tenant's e-services as its file configures them, and how
//! each authenticates (a secret stored hashed or in plain text). `idp clients new-secret`: a
//! random client secret and the `client_secret_sha256` line that stores it hashed. Clients are
//! configured in the tenant files only (docs/configuration.md); neither command writes anything.

use std::io::Write;

use clap::Subcommand;

use super::failure::Failure;
use super::tenant::tenant_config;
use crate::config::Config;
use crate::config::{AuthMethod, ClientConfig, GrantType};
use crate::crypto::secret;

/// `idp clients …`
#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// List a tenant's e-services (its `[[clients]]`): id, authentication, grants, redirect URIs.
    List {
        /// The tenant's id.
        #[arg(long)]
        tenant: String,
    },
    /// Print a new random client secret, and the `client_secret_sha256` line that stores it
    /// hashed in the client's `[[clients]]` table (give the secret to the e-service over a
    /// separate channel).
    NewSecret,
}

/// Runs an `idp clients` command.
pub fn run(config: &Config, command: ClientsCommand) -> Result<(), Failure> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match command {
        ClientsCommand::List { tenant } => {
            let tenant = tenant_config(config, &tenant)?;
            writeln!(
                out,
                "CLIENT\tAUTHENTICATION\tSECRET\tGRANTS\tCONSENT\tREDIRECT URIS"
            )?;
            for client in &tenant.clients {
                writeln!(out, "{}", row(client))?;
            }
        }
        ClientsCommand::NewSecret => {
            let new = secret::random_token();
            writeln!(
                out,
                "client secret (for the e-service only, over a separate channel): {new}"
            )?;
            writeln!(out, "client_secret_sha256 = \"{}\"", secret::hash(&new))?;
        }
    }
    out.flush()?;
    Ok(())
}

/// One client's line: its id, how it authenticates, how its secret is stored (`hashed`,
/// `PLAIN` — prefer `client_secret_sha256` —, or `-`; during a rotation, until when the previous
/// secret is taken), its grants, whether it asks consent, and its redirect URIs.
fn row(client: &ClientConfig) -> String {
    let authentication = match client.token_endpoint_auth_method {
        AuthMethod::ClientSecretBasic => "client_secret_basic",
        AuthMethod::ClientSecretPost => "client_secret_post",
        AuthMethod::PrivateKeyJwt => "private_key_jwt",
        AuthMethod::None => "none",
    };
    let stored = match (&client.client_secret_sha256, &client.client_secret) {
        (Some(_), _) => "hashed",
        (None, Some(_)) => "PLAIN",
        (None, None) => "-",
    };
    // A rotation under way: until when the previous secret is taken.
    let stored = match (
        &client.previous_client_secret_sha256,
        client.previous_secret_expires,
    ) {
        (Some(_), Some(expiry)) => format!(
            "{stored}, previous until {}",
            expiry.0.and_utc().format("%Y-%m-%dT%H:%M:%SZ")
        ),
        _ => stored.to_string(),
    };
    let grants: Vec<&str> = client
        .grant_types
        .iter()
        .map(|grant| match grant {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
        })
        .collect();
    let consent = if client.first_party { "no" } else { "yes" };
    let uris = match client.redirect_uris.join(" ") {
        uris if uris.is_empty() => "-".to_string(),
        uris => uris,
    };
    format!(
        "{}\t{authentication}\t{stored}\t{}\t{consent}\t{uris}",
        client.client_id,
        grants.join(",")
    )
}
