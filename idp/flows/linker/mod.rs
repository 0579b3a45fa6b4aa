//! The legacy-account linker: binds an account of a city's old login system to the resident's
//! email on the first login, keeping its subject so every e-service keeps the resident's history.
//!
//! - **keep-password** (`route.rs`, [`keeps_password`]): the old password, checked against the
//!   legacy hash, proves the account; the user is created with the legacy subject and the
//!   password re-hashed with argon2id, in one transaction with the legacy row's link and an audit
//!   event (`bind.rs`).
//! - **email-link** (and accounts without a usable hash): a set-password link is mailed
//!   (`links.rs`); opening it and setting the password binds the account in one transaction and
//!   continues the pending login (`follow.rs`).
//! - One address, several old accounts: the resident chooses; the first bound subject is `sub`,
//!   the others, bound later from the account page, appear in the `former_subjects` claim
//!   (`flows/former.rs`).
//! - A family's shared address: once one of its old accounts is bound, the login at the address
//!   offers that account and the old accounts still unbound. Another resident **claims** theirs
//!   (`claims.rs`, `claim_address.rs`): proves it (old password under keep-password, else a link
//!   mailed to the shared address), gives their own address, and the link mailed there creates
//!   their user with the old subject.
//! - Authority accounts keep logging in with their old username and password.

pub mod bind;
pub mod claim_address;
pub mod claims;
pub mod follow;
pub mod links;
pub mod route;

pub use crate::flows::former::{Former, Olds, former, olds};
pub use bind::bind_new_user;
pub use claim_address::Claimed;
pub use claims::{CLAIM, ClaimCheck, ClaimPrepared, Proven};
pub use follow::{Completed, LinkTarget};
pub use links::{LinkMail, PURPOSE};
pub use route::{IN_USE, Route, keeps_password, mask, password_target};

// What `idp/http` calls, returning `OAuthError` until it takes `FlowError` (`flows/bridge.rs`).
pub use crate::flows::bridge::linker::{
    bind_to_user, claim_target, complete, finish_claim, link_target, prepare_claim, route,
    route_chosen, send_claim_link, send_links, submit_claim,
};
