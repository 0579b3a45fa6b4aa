//! Forgot password: a single-use link by mail (`request.rs`), a new password, the user's other
//! sessions ended, and the pending authorization continued (`complete.rs`).

pub mod complete;
pub mod request;

pub use complete::Completed;
pub use request::PURPOSE;

// What `idp/http` calls, returning `OAuthError` until it takes `FlowError` (`flows/bridge.rs`).
pub use crate::flows::bridge::reset::{complete, request, usable};
