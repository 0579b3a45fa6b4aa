//! The resident's account page: who they are, their name, their password, their sessions
//! (`changes.rs`).

pub mod changes;

// What `idp/http` calls, returning `OAuthError` until it takes `FlowError` (`flows/bridge.rs`).
pub use crate::flows::bridge::account::{
    check_failed, current, set_name, set_password, sign_out_everywhere,
};
