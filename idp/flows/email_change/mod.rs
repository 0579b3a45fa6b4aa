//! Changing the address (and so the username): a link to the new address (`request.rs`); once
//! confirmed, a notice with a one-click undo to the old one (`follow.rs`), which remembers its
//! change and ends, when followed, what the changes after it left (`ways_back.rs`). The subject
//! never changes.

pub mod follow;
pub mod request;
mod ways_back;

pub use self::follow::{confirm, target, undo};
pub use self::request::request;
