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
//! - Authority accounts keep logging in with their old username and password; their old password
//!   is their only proof (also at their address, under either policy): no mailed link binds one.
//! - A link proves what it proved when it was mailed, no more. One mailed while its address had
//!   no account never binds into an account that appeared there since (`follow.rs`); a link is
//!   written only to the address its account has in the transaction that writes it
//!   (`links.rs`); a claim proven by an old password holds only while that old hash is stored.

pub mod bind;
pub mod claim_address;
pub mod claims;
pub mod follow;
pub mod links;
pub mod route;

pub use self::bind::{bind_new_user, bind_to_user};
pub use self::claim_address::{claim_target, submit_claim};
pub use self::claims::{finish_claim, prepare_claim, send_claim_link};
pub use self::follow::{complete, link_target};
pub use self::links::send_links;
pub use self::route::{keeps_password, login_key, password_target, route, route_chosen};
