//! The second factor of authority users: a time-based one-time code (RFC 6238) with ten
//! single-use recovery codes.
//!
//! `verify` checks a code or a recovery code for a half-done login (`oidc::steps`), throttled
//! by a counter of its own; `enrol` enrols a one-time code inside a login that needs one; `account` is
//! the account page's (set up or replace the code, new recovery codes); `codes` what those two
//! share; `reset` is support's `idp users reset-second-factor`. The secrets and codes themselves
//! are `crypto::totp`'s.

pub mod account;
pub mod codes;
pub mod enrol;
pub mod reset;
pub mod verify;

pub use self::account::{renew_recovery_codes, status};
pub use self::enrol::{confirm_enrolment, finish_enrolment, start_enrolment};
pub use self::reset::reset;
pub use self::verify::{asked, verify};
