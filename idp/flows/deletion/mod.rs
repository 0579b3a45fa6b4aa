//! Deleting the account (GDPR Art. 17): the request (`request.rs`: the account page after the
//! current password, or `idp users delete`) ends everything the account holds, disables it and
//! mails an undo link valid for the tenant's `[deletion] undo_days`; the undo (`undo.rs`) brings
//! the account back; once the grace period has ended, the expiry clean-up erases it
//! (`store/erasure.rs`), as `idp users delete --now` does at once.

pub mod request;
pub mod undo;

pub use self::request::{Requested, erase_now, request};
pub use self::undo::{Undone, pending, undo};
