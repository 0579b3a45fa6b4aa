//! The resident's account page: who they are, their name, their password, their sessions
//! (`changes.rs`).

pub mod changes;

pub use self::changes::{check_failed, current, set_name, set_password, sign_out_everywhere};
