//! How long a wrong password takes at the least, per tenant, on this node.
//!
//! An old account's hash costs what its parameters say: a bcrypt of cost 12 some 250 ms, where
//! the dummy argon2id hash that a wrong password for an unknown identifier costs takes 15–40 ms.
//! Timed, wrong passwords would tell which addresses and usernames have an old account of a
//! costly hash. So a wrong password is answered no sooner than the slowest kind of hash the
//! tenant's checks have cost on this node ([`Pace::floor`]); the rest is waited out on a timer,
//! off the hashing threads (a wait, not a core).
//!
//! A kind is a hash's format and cost parameters, its salt and digest left out ([`kind_of`]).
//! Each kind's time is a moving average of its checks (the hash, and the dummy after it where one
//! runs), so that one run slowed by a busy machine does not slow every answer for long. A tenant
//! has at most [`KINDS`] kinds (more fold into one), and the floor is at most [`MOST`]: a hash
//! costlier than that (within the caps of `crypto::legacy`, up to about a second) still answers
//! later than an unknown identifier, and nobody's long password can make every wrong password of
//! a tenant wait longer.
//!
//! The floor is learnt: until a node has run a kind of hash, it does not wait for it. The
//! residents who log in with their old passwords teach it as much as a wrong guess does.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// The longest a wrong password is made to wait for.
pub const MOST: Duration = Duration::from_secs(1);

/// The kinds of hash one tenant's floor is kept for; a further kind is counted under
/// [`OTHER`].
pub const KINDS: usize = 16;

/// The kind under which kinds past [`KINDS`] are counted.
const OTHER: &str = "other";

/// A moving average moves this fraction of the way to each new time.
const STEP: u32 = 4;

/// The kind of a stored hash: its format and cost, without the salt and digest. A bcrypt hash
/// (`$2b$12$…`, salt and digest unseparated) by its first seven characters; one of `$`-separated
/// fields (PHC strings, sha-crypt, Django's PBKDF2) without its last two fields; a hash of one
/// field or two (a salted SHA layout) is of the kind `""`.
pub fn kind_of(hash: &str) -> &str {
    let hash = hash.trim();
    if hash.starts_with("$2") {
        return hash.get(..7).unwrap_or(hash);
    }
    hash.rmatch_indices('$')
        .nth(1)
        .map_or("", |(at, _)| &hash[..at])
}

/// Each tenant's kinds of hash and the time each takes; one per node.
#[derive(Debug, Default)]
pub struct Pace {
    /// Tenant id → kind → its moving average.
    tenants: Mutex<HashMap<String, HashMap<String, Duration>>>,
}

impl Pace {
    /// A check of `tenant` of a hash of `kind` that `took` this long.
    pub fn record(&self, tenant: &str, kind: &str, took: Duration) {
        let mut tenants = self.tenants.lock().unwrap_or_else(PoisonError::into_inner);
        let kinds = tenants.entry(tenant.to_string()).or_default();
        let kind = if kinds.contains_key(kind) || kinds.len() < KINDS - 1 {
            kind
        } else {
            OTHER
        };
        kinds
            .entry(kind.to_string())
            .and_modify(|average| *average = moved(*average, took))
            .or_insert(took);
    }

    /// The least a wrong password of `tenant` takes: its slowest kind's time, at most [`MOST`].
    pub fn floor(&self, tenant: &str) -> Duration {
        let tenants = self.tenants.lock().unwrap_or_else(PoisonError::into_inner);
        tenants
            .get(tenant)
            .and_then(|kinds| kinds.values().max().copied())
            .unwrap_or_default()
            .min(MOST)
    }
}

/// `average` moved a [`STEP`]th of the way towards `took`.
fn moved(average: Duration, took: Duration) -> Duration {
    if took >= average {
        average + (took - average) / STEP
    } else {
        average - (average - took) / STEP
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{KINDS, MOST, Pace, kind_of};

    #[test]
    fn a_kind_is_the_format_and_cost_without_salt_and_digest() {
        let kinds = [
            (
                "$2b$12$cd/PVnsiDJWMgHzgjB6kau.clFYNpL7uSV7.RvpKRpDfZlfAkPTY2",
                "$2b$12$",
            ),
            ("$6$rounds=656000$salt$digest", "$6$rounds=656000"),
            ("$6$salt$digest", "$6"),
            ("$pbkdf2-sha256$29000$salt$digest", "$pbkdf2-sha256$29000"),
            ("pbkdf2_sha256$260000$salt$digest", "pbkdf2_sha256$260000"),
            (
                "$argon2id$v=19$m=19456,t=2,p=1$salt$digest",
                "$argon2id$v=19$m=19456,t=2,p=1",
            ),
            ("$scrypt$ln=8,r=8,p=1$salt$digest", "$scrypt$ln=8,r=8,p=1"),
            ("salt$hex", ""),
            ("no format", ""),
            ("$2", "$2"),
        ];
        for (hash, kind) in kinds {
            assert_eq!(kind_of(hash), kind, "{hash}");
        }
    }

    #[test]
    fn the_floor_is_the_slowest_kinds_moving_average_at_most_a_second() {
        let ms = Duration::from_millis;
        let pace = Pace::default();
        assert_eq!(pace.floor("espoo"), Duration::ZERO);
        pace.record("espoo", "$argon2id", ms(40));
        pace.record("espoo", "$2b$12$", ms(250));
        assert_eq!(pace.floor("espoo"), ms(250));
        // Another tenant's hashes are not this one's.
        assert_eq!(pace.floor("vantaa"), Duration::ZERO);
        // One slow run moves the average a quarter of the way.
        pace.record("espoo", "$2b$12$", ms(650));
        assert_eq!(pace.floor("espoo"), ms(350));
        pace.record("espoo", "$2b$12$", ms(150));
        assert_eq!(pace.floor("espoo"), ms(300));
        pace.record("espoo", "$6$rounds=999999", ms(5000));
        assert_eq!(pace.floor("espoo"), MOST);
    }

    #[test]
    fn kinds_past_the_most_are_counted_as_one() {
        let pace = Pace::default();
        for n in 0..KINDS as u64 + 10 {
            pace.record("espoo", &format!("kind {n}"), Duration::from_millis(n));
        }
        let tenants = pace.tenants.lock().expect("not poisoned");
        assert_eq!(tenants["espoo"].len(), KINDS);
        assert!(tenants["espoo"].contains_key("other"));
    }
}
