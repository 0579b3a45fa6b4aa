//! Fixtures that tests of several layers share: a small, valid tenant file.

/// A valid tenant file: Seinäjoki, keeping old passwords, with one confidential client `demo`
/// (secret `s3cret`, redirect URI `https://rp.example.fi/callback`). Ends with a newline, so a
/// test can append more `[[clients]]`.
pub(crate) const TENANT: &str = r#"
id = "seinajoki"
name = "Seinäjoen kaupunki"
policy = "keep-password"

[[clients]]
client_id = "demo"
client_secret = "s3cret"
redirect_uris = ["https://rp.example.fi/callback"]
"#;
