//! What this node's last attempt to send a mail came to, for the requests that send none.
//!
//! Forgot password, registration and the change of address answer alike whether or not the
//! address has an account: the same page, at least 800 ms (docs/security.md, "Timing and
//! enumeration"). A mail that cannot be sent is said plainly (503), and only the requests for an
//! address with an account (or without one, for the change of address) send one: while the relay
//! fails, the failure page alone would tell which addresses have an account. So while this
//! node's last attempt failed (less than [`RECENT`] ago), a request that sends no mail answers as
//! a failed one does, after as long as that attempt took. A refusal for good of one recipient
//! (no such mailbox) is not the relay failing: it counts as an answer, else anyone could register
//! a bogus address and have the requests without a mail fail while those with one succeed.

use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// How long a failed attempt counts as the relay's state: the mail worker tries the outbox every
/// few seconds while mails wait, so a relay that comes back is seen within a round.
pub const RECENT: Duration = Duration::from_secs(300);

/// The outcome of this node's last attempt to send a mail.
#[derive(Debug, Default)]
pub struct RelayState(Mutex<Option<Attempt>>);

#[derive(Debug, Clone, Copy)]
struct Attempt {
    failed: bool,
    took: Duration,
    at: Instant,
}

impl RelayState {
    /// Records an attempt that took `took`.
    pub fn record(&self, failed: bool, took: Duration) {
        *self.0.lock() = Some(Attempt {
            failed,
            took,
            at: Instant::now(),
        });
    }

    /// When the last attempt failed less than [`RECENT`] ago: how long it took.
    pub fn failing(&self) -> Option<Duration> {
        let last = (*self.0.lock())?;
        (last.failed && last.at.elapsed() < RECENT).then_some(last.took)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::RelayState;

    #[test]
    fn the_last_attempt_is_the_relays_state() {
        let state = RelayState::default();
        assert_eq!(state.failing(), None);
        state.record(true, Duration::from_secs(2));
        assert_eq!(state.failing(), Some(Duration::from_secs(2)));
        state.record(false, Duration::from_millis(30));
        assert_eq!(state.failing(), None);
    }
}
