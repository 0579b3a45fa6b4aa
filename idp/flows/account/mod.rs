//! The resident's account page: who they are, their name, their password, signing out
//! everywhere (`changes.rs`); their sessions and the e-services that hold their consent or
//! offline access (`sessions.rs`).

pub mod changes;
pub mod sessions;

pub use self::changes::{check_failed, current, set_name, set_password, sign_out_everywhere};
