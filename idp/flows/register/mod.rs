//! Registration: an address, a link to it (`start.rs`), then a password and a name — the
//! account, logged in, and the pending authorization continued (`finish.rs`). An address that has
//! an account gets a mail saying so instead; the page is the same either way.

pub mod finish;
pub mod start;

pub use self::finish::{finish, link_email};
pub use self::start::start;
