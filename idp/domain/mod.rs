//! Validated values: once parsed, an [`Email`] or a [`NewPassword`] is known to be acceptable.

mod client_address;
mod email;
mod name;
pub mod password;
pub mod text;

pub use client_address::counting_key;
pub use email::{Email, EmailError};
pub use name::{MAX_NAME_CHARS, NameError, parse_name, without_hidden_marks};
pub use password::{NewPassword, PasswordError};
pub use text::{lookup_key, with_ascii_domain};
