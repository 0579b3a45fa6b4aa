//! Validated values: once parsed, an [`Email`] or a [`NewPassword`] is known to be acceptable.

mod email;
pub mod password;

pub use email::{Email, EmailError};
pub use password::{NewPassword, PasswordError};
