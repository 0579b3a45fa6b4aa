//! Forgot password: a single-use link by mail (`request.rs`), a new password, the user's other
//! sessions ended, and the pending authorization continued (`complete.rs`).

pub mod complete;
pub mod request;

pub use self::complete::{Removable, Usable, complete, usable};
pub use self::request::request;
