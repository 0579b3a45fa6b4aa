//! The resident's account page: who they are, their name, their password, signing out
//! everywhere (`changes.rs`); their sessions and the e-services that hold their consent or
//! offline access (`sessions.rs`); and the one way every change of the page runs, only while the
//! session that asked for it is live (`signed_in.rs`).

pub mod changes;
pub mod sessions;
pub mod signed_in;

pub use self::changes::{check_failed, current, set_name, set_password, sign_out_everywhere};
pub use self::signed_in::{Counted, Ran, while_signed_in};
