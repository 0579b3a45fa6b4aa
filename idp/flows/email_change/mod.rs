//! Changing the address (and so the username): a link to the new address (`request.rs`); once
//! confirmed, a notice with a one-click undo to the old one (`follow.rs`). The subject never
//! changes.

pub mod follow;
pub mod request;

pub use follow::Followed;
pub use request::{CONFIRM, UNDO, UNDO_DAYS};

// What `idp/http` calls, returning `OAuthError` until it takes `FlowError` (`flows/bridge.rs`).
pub use crate::flows::bridge::email_change::{confirm, confirm_target, request, undo, undo_target};
