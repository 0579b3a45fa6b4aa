//! How long a wrong password takes at the least, per tenant, on this node.
//!
//! An old account's hash costs what its parameters say: a bcrypt of cost 12 some 250 ms, where
//! the dummy argon2id hash that a wrong password for an unknown identifier costs takes 15–40 ms.
//! Timed, wrong passwords would tell which addresses and usernames have an old account of a
//! costly hash. So a wrong password is answered no sooner than the slowest kind of hash the
//! tenant's checks have cost on this node ([`Pace::floor`]); the rest is waited out on a timer,
//! off the hashing threads (a wait, not a core).
//!
//! A kind is a hash's format and cost parameters, its salt and digest left out ([`kind_of`]),
//! and for a format whose cost grows with the password (sha-crypt) the password's length class
//! ([`Length`]): a 256-byte password costs such a hash several times a short one's, so its time
//! is kept apart and waited for only by wrong passwords of that class — a long password shows
//! nothing, and cannot make the short ones wait longer. Each kind's time is a moving average of
//! its checks that ran the stored hash (the hash, and the dummy after it where one runs; a
//! password never run against the hash, too long for it, teaches nothing), so that one run
//! slowed by a busy machine does not slow every answer for long. A tenant has at most [`KINDS`]
//! kinds (more fold into one), and the floor is at most [`MOST`]: a hash costlier than that
//! (within the caps of `crypto::legacy`, up to about a second) still answers later than an
//! unknown identifier.
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

/// The bytes of a password one [`Length`] class spans.
const CLASS_BYTES: usize = 64;

/// Which passwords a kind's time stands for: all of them, or those of one length class (a
/// password's bytes divided by 64), for a format whose cost grows with the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Length {
    /// Every password costs the hash alike.
    Any,
    /// Passwords of this class ([`Length::of`]).
    Class(usize),
}

impl Length {
    /// The class of a password of `bytes` bytes.
    pub fn of(bytes: usize) -> Length {
        Length::Class(bytes / CLASS_BYTES)
    }

    /// Whether a kind's time of this length stands for a password of `class`.
    fn covers(self, class: Length) -> bool {
        self == Length::Any || self == class
    }
}

/// One tenant's kinds of hash, each with the passwords it stands for, and their times.
type Kinds = HashMap<(String, Length), Duration>;

/// Each tenant's kinds of hash and the time each takes; one per node.
#[derive(Debug, Default)]
pub struct Pace {
    /// Tenant id → (kind, length) → its moving average.
    tenants: Mutex<HashMap<String, Kinds>>,
}

impl Pace {
    /// A check of `tenant` of a hash of `kind`, for passwords of `length`, that `took` this long.
    pub fn record(&self, tenant: &str, (kind, length): (&str, Length), took: Duration) {
        let mut tenants = self.tenants.lock().unwrap_or_else(PoisonError::into_inner);
        let kinds = tenants.entry(tenant.to_string()).or_default();
        let key = (kind.to_string(), length);
        let key = if kinds.contains_key(&key) || kinds.len() < KINDS - 1 {
            key
        } else {
            (OTHER.to_string(), length)
        };
        kinds
            .entry(key)
            .and_modify(|average| *average = moved(*average, took))
            .or_insert(took);
    }

    /// The least a wrong password of `tenant` of `bytes` bytes takes: the slowest time of the
    /// kinds that stand for it, at most [`MOST`].
    pub fn floor(&self, tenant: &str, bytes: usize) -> Duration {
        let class = Length::of(bytes);
        let tenants = self.tenants.lock().unwrap_or_else(PoisonError::into_inner);
        tenants
            .get(tenant)
            .and_then(|kinds| {
                kinds
                    .iter()
                    .filter(|((_, length), _)| length.covers(class))
                    .map(|(_, took)| *took)
                    .max()
            })
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

    use super::{KINDS, Length, MOST, Pace, kind_of};

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
        assert_eq!(pace.floor("espoo", 8), Duration::ZERO);
        pace.record("espoo", ("$argon2id", Length::Any), ms(40));
        pace.record("espoo", ("$2b$12$", Length::Any), ms(250));
        assert_eq!(pace.floor("espoo", 8), ms(250));
        // Another tenant's hashes are not this one's.
        assert_eq!(pace.floor("vantaa", 8), Duration::ZERO);
        // One slow run moves the average a quarter of the way.
        pace.record("espoo", ("$2b$12$", Length::Any), ms(650));
        assert_eq!(pace.floor("espoo", 8), ms(350));
        pace.record("espoo", ("$2b$12$", Length::Any), ms(150));
        assert_eq!(pace.floor("espoo", 8), ms(300));
        pace.record("espoo", ("$6$rounds=999999", Length::Any), ms(5000));
        assert_eq!(pace.floor("espoo", 8), MOST);
    }

    /// A sha-crypt hash's time with a long password is waited for by long wrong passwords only:
    /// a short one does not wait for it, and a long one for an unknown identifier does.
    #[test]
    fn a_length_classs_time_is_waited_for_by_its_class_alone() {
        let ms = Duration::from_millis;
        let pace = Pace::default();
        pace.record("espoo", ("$argon2id", Length::Any), ms(40));
        pace.record("espoo", ("$6$rounds=656000", Length::of(10)), ms(300));
        pace.record("espoo", ("$6$rounds=656000", Length::of(250)), ms(900));
        assert_eq!(pace.floor("espoo", 10), ms(300));
        assert_eq!(pace.floor("espoo", 63), ms(300));
        assert_eq!(pace.floor("espoo", 250), ms(900));
        // A class no sha-crypt check has had: the kinds of any length only.
        assert_eq!(pace.floor("espoo", 130), ms(40));
    }

    #[test]
    fn kinds_past_the_most_are_counted_as_one() {
        let pace = Pace::default();
        for n in 0..KINDS as u64 + 10 {
            pace.record(
                "espoo",
                (&format!("kind {n}"), Length::Any),
                Duration::from_millis(n),
            );
        }
        let tenants = pace.tenants.lock().expect("not poisoned");
        assert_eq!(tenants["espoo"].len(), KINDS);
        assert!(tenants["espoo"].contains_key(&("other".to_string(), Length::Any)));
    }
}
