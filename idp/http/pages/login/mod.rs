//! The login's pages for a pending authorization request: the identifier, the password, the
//! linker's choice between old accounts, the claim of an old account.

pub mod choose;
pub mod claim;
pub mod form;
pub mod identifier;
pub mod password;
pub mod route;
