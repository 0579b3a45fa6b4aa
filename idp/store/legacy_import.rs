//! What `idp import-legacy` writes and `idp legacy report` reads of `legacy_accounts`.
