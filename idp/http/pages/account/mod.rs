//! The account page (`/{tenant}/account`) of the signed-in resident, its forms, and the change
//! of address with its mailed links.

pub mod current;
pub mod deletion;
pub mod email;
pub mod export;
pub mod forms;
pub mod legacy;
pub mod page;
pub mod sessions;
