//! A configuration in a `figment::Jail` (a temporary working directory and environment): the
//! main file, one tenant file, and how to read what `load` makes of them.
#![expect(
    clippy::result_large_err,
    reason = "figment::Jail fixes the closure type"
)]

use std::path::Path;

use figment::Jail;

use crate::config::testing::TENANT;
use crate::config::{Config, load};

/// The main file: a public https:// server, SQLite, mail to files, tenants in `tenants/`.
pub(super) const MAIN: &str = r#"
[server]
bind = "127.0.0.1:8080"
public_url = "https://login.example.fi/"

[database]
url = "sqlite://data/idp.sqlite"

[mail]
transport = "file"
dir = "mail"
from = "Kaupunki <no-reply@example.fi>"

[tenants]
dir = "tenants"
"#;

/// Runs `test` in a jail holding `idp.toml` ([`MAIN`]) and `tenants/seinajoki.toml` (`tenant`).
pub(super) fn jail_with(tenant: &str, test: impl FnOnce(&mut Jail) -> figment::Result<()>) {
    Jail::expect_with(|jail| {
        jail.create_file("idp.toml", MAIN)?;
        std::fs::create_dir("tenants").map_err(|e| e.to_string())?;
        jail.create_file("tenants/seinajoki.toml", tenant)?;
        test(jail)
    });
}

/// Runs `test` in the jail of [`jail_with`] with the Seinäjoki [`TENANT`] file and the
/// environment `variables` set.
pub(super) fn with_env(
    variables: &[(&str, &str)],
    test: impl FnOnce(&mut Jail) -> figment::Result<()>,
) {
    jail_with(TENANT, |jail| {
        for (name, value) in variables {
            jail.set_env(name, value);
        }
        test(jail)
    });
}

/// The jail's configuration, which must load.
pub(super) fn loaded() -> Config {
    load(Path::new("idp.toml")).expect("the configuration should load")
}

/// The problems of the configuration at `path`, which must be refused, one line each.
pub(super) fn problems(path: &str) -> Vec<String> {
    load(Path::new(path))
        .expect_err("the configuration should be refused")
        .0
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// With `tenant` as the Seinäjoki file, the configuration is refused with exactly `expected`.
pub(super) fn assert_refused(tenant: &str, expected: &[&str]) {
    jail_with(tenant, |_| {
        assert_eq!(problems("idp.toml"), expected);
        Ok(())
    });
}
