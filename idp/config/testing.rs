//! Fixtures that tests of several layers share: a small, valid tenant file.

/// A valid tenant file, fit for a public server: Seinäjoki, keeping old passwords, with one
/// confidential client `demo` (secret `s3cret`, given as its SHA-256; redirect URI
/// `https://rp.example.fi/callback`). Ends with a newline, so a test can append more
/// `[[clients]]`.
pub(crate) const TENANT: &str = r#"
id = "seinajoki"
name = "Seinäjoen kaupunki"
policy = "keep-password"
privacy_url = "https://www.example.fi/tietosuoja"

[[clients]]
client_id = "demo"
client_secret_sha256 = "1ec1c26b50d5d3c58d9583181af8076655fe00756bf7285940ba3670f99fcba0"
redirect_uris = ["https://rp.example.fi/callback"]
"#;
