//! The one way to check a password against a stored hash: throttled per account and per client
//! address, counted before the hash runs, and run in the bounded pool within the caller's share.
//!
//! Every check — a login, the account page's current password, linking an old account with its
//! old password, the linker's keep-password check, any later one — calls [`PasswordCheck::run`].
//! Nothing else in the crate calls `crypto::password::verify` or `crypto::legacy::verify` (a test
//! below reads the sources to hold that).
//!
//! 1. One check is counted against the account and the address in the database, in one write
//!    transaction ([`throttle::reserve`]): parallel guesses are counted one after the other, so
//!    no more hashes run than the allowance, on any number of nodes. Five checks that did not
//!    succeed within 15 minutes block the account for 30 seconds, doubling with each further one
//!    up to 15 minutes; fifty block an address.
//! 2. The hash runs in the pool ([`HashPool::run_for`]) for the session, account and address,
//!    from the logins' share or the others'.
//! 3. A match gives the check back ([`throttle::give_back`]): the account's counter is cleared,
//!    the address gets its check back. A wrong password stays counted; a check the pool refused
//!    (so no hash ran) is given back. A check refused by the throttle is counted in the metrics
//!    (`idp_logins_total{outcome="throttled"}`); the first refusal of each block is also audited
//!    as `login.throttled` (the user when the account is one, the client address, what is blocked
//!    and until when: [`throttle::Blocked::audit`]), the later ones of the same block are not, so
//!    that repeating a refused request adds nothing to the account's audit trail.
//! 4. A wrong password is answered no sooner than the slowest kind of hash the tenant's checks
//!    have cost on this node (`crypto::pace`): an unknown identifier's dummy hash, a resident's
//!    argon2id hash and an old account's bcrypt of cost 12 answer a wrong password alike.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use secrecy::{ExposeSecret, SecretString};

use crate::config::{PasswordEncoding, SaltedShaLayout, TenantConfig};
use crate::crypto::hash_pool::{HashPool, Holders, Refused, Share};
use crate::crypto::legacy::LegacyFormat;
use crate::crypto::pace::{self, Length};
use crate::crypto::{legacy, password};
use crate::domain::password::{MAX_BYTES, normalised};
use crate::store::throttle::{self, Allowance, ThrottleKey};
use crate::store::{Store, StoreError, Tenant, audit, write_transaction};
use crate::telemetry::metrics::{Counted, LoginOutcome, Metrics};

/// Checks of one account that did not succeed before it is blocked.
pub const FREE_FAILURES: i64 = 5;
/// Checks from one address that did not succeed before it is blocked (many residents may share
/// one, behind a NAT).
pub const FREE_FAILURES_PER_ADDRESS: i64 = 50;
/// Checks of one account, right or wrong, before it is blocked: no resident logs in thirty
/// times in a window; a script looping over its own account's right password does, and holds a
/// place of the hashing pool with each.
pub const FREE_CHECKS: i64 = 30;
/// The window checks are counted in (and the longest block).
pub const WINDOW_SECONDS: i64 = 15 * 60;

/// The window a user's second-factor checks are counted in: a day. Five free, then blocks of 30
/// seconds doubling up to 8½ hours: about sixteen guesses a day at most.
pub const SECOND_FACTOR_WINDOW_SECONDS: i64 = 24 * 3600;

/// The allowance of every tenant.
pub const ALLOWANCE: Allowance = Allowance {
    per_account: FREE_FAILURES,
    per_address: FREE_FAILURES_PER_ADDRESS,
    checks_per_account: FREE_CHECKS,
    window_seconds: WINDOW_SECONDS,
    second_factor_window_seconds: SECOND_FACTOR_WINDOW_SECONDS,
};

/// An argon2id hash of a random password, verified for unknown accounts so that a login takes as
/// long whether or not the account exists.
pub const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$IdohpM3iEtJUPSCGQr8GWw$nJGzunoXxDO+phsk/IFnc8zKLt9a0Yign6X6hSU+sfE";

/// The hash a password is checked against.
#[derive(Debug, Clone)]
pub enum Stored {
    /// An argon2id PHC string ([`DUMMY_HASH`] for unknown accounts).
    Argon2(String),
    /// An old account's hash, in the tenant's salted SHA layout if it is one.
    Legacy {
        /// The old system's hash.
        hash: String,
        /// The tenant's salted SHA layout.
        salted: Option<SaltedShaLayout>,
    },
}

/// How long the dummy hash took when it last ran on this node, in microseconds; 0 before it has.
static DUMMY_TOOK: AtomicU64 = AtomicU64::new(0);

/// The dummy hash's last time on this node, once it has run.
fn dummy_took() -> Option<Duration> {
    match DUMMY_TOOK.load(Ordering::Relaxed) {
        0 => None,
        micros => Some(Duration::from_micros(micros)),
    }
}

impl Stored {
    /// Whether `password` matches (on a hashing thread: this costs a hash), and what the check
    /// took. The password is tried in its normalised form (`domain::password::normalised`,
    /// NFKC) and, where it differs, as typed — the normalised form first for a current hash
    /// (new passwords are hashed in it; one set before was hashed as typed), the typed one first
    /// for an old system's (which hashed what was typed then): "ä" composed on one device and
    /// decomposed on another is one password. Each try is a hash ([`Ran::due`]).
    ///
    /// A form longer than any password can be ([`MAX_BYTES`], the rule for new ones) is never run
    /// against the stored hash, and an old sha-crypt hash is run only for a form its cost allows
    /// ([`legacy::runs_for`]): a 64 KiB password must not cost a hashing thread minutes. A
    /// password no form of which runs, and a wrong one for an old hash cheaper than the dummy
    /// ([`Stored::cheaper_than_the_dummy`]), cost the dummy hash instead, so that they take as
    /// long as a wrong password for an unknown identifier.
    ///
    /// An old hash runs each form in each of the tenant's `encodings` (`[legacy]
    /// password_encodings`, [`legacy::verify_in`]); a form's length, for the time an old
    /// sha-crypt hash takes and the wait a wrong password learns, is [`legacy::measure`]'s, for
    /// every kind of hash alike.
    fn check(&self, password: &SecretString, encodings: &[PasswordEncoding]) -> Ran {
        let typed = password.expose_secret();
        let normal = normalised(typed);
        let forms: Vec<&str> = match self {
            _ if normal == typed => vec![typed],
            Stored::Argon2(_) => vec![&normal, typed],
            Stored::Legacy { .. } => vec![typed, &normal],
        };
        let bytes = |form: &str| legacy::measure(form, encodings);
        // What a wrong password waits for: one kind's time a form a password can have, whether
        // or not this hash runs it (an old sha-crypt hash runs none over 256 bytes; the dummy of
        // an unknown identifier runs both), so that the count does not tell the kinds apart.
        let mut due: Vec<usize> = forms
            .iter()
            .filter(|form| form.len() <= MAX_BYTES)
            .map(|form| bytes(form))
            .collect();
        if due.is_empty() {
            due.push(bytes(typed));
        }
        let started = Instant::now();
        let (mut tries, mut matched, mut ran_bytes, mut whole) = (0, false, None, true);
        for form in forms
            .into_iter()
            .filter(|form| self.runs_for(form, encodings))
        {
            tries += 1;
            ran_bytes = Some(bytes(form));
            matched = match self {
                Stored::Argon2(hash) => password::verify(&SecretString::from(form), hash),
                Stored::Legacy { hash, salted } => {
                    // An encoding whose bytes are too long for the hash is not run: the check
                    // then took less than its kind takes.
                    whole &= encodings.iter().all(|&encoding| {
                        self.runs_for_bytes(legacy::encoded(form, encoding).len())
                    });
                    legacy::verify_in(form, hash, salted.as_ref(), encodings)
                }
            };
            if matched {
                break;
            }
        }
        let runs = tries > 0;
        // What one try took, against the dummy.
        let took = (started.elapsed() / tries.max(1), dummy_took());
        if self.dummy_after(matched, runs, took) {
            let started = Instant::now();
            password::verify(password, DUMMY_HASH);
            let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
            DUMMY_TOOK.store(micros, Ordering::Relaxed);
        }
        Ran {
            matched,
            took: started.elapsed(),
            due,
            ran_bytes,
            // Only a check that ran the stored hash, once: a password too long for it cost the
            // dummy alone, and would pull the kind's time down to the dummy's, and a time of two
            // tries and one dummy halved would pull it down by half a dummy. A match is what a
            // wrong password costs too where no dummy would follow it.
            typical: tries == 1 && whole && (!matched || !self.dummy_after(false, true, took)),
        }
    }

    /// The kind of this hash, for [`pace::Pace`]: its format and cost.
    fn kind(&self) -> &str {
        match self {
            Stored::Argon2(hash) | Stored::Legacy { hash, .. } => pace::kind_of(hash),
        }
    }

    /// Whether this hash costs more for a longer password: an old sha-crypt hash.
    fn grows(&self) -> bool {
        match self {
            Stored::Argon2(_) => false,
            Stored::Legacy { hash, salted } => matches!(
                legacy::usable(hash, salted.as_ref()),
                Some(LegacyFormat::Sha512Crypt | LegacyFormat::Sha256Crypt)
            ),
        }
    }

    /// Whether `form` of a password is run against this hash: not over [`MAX_BYTES`], and for
    /// an old hash in at least one of `encodings` ([`Stored::runs_for_bytes`]; an old system that
    /// hashed the shorter windows-1252 bytes of a long password still matches).
    fn runs_for(&self, form: &str, encodings: &[PasswordEncoding]) -> bool {
        form.len() <= MAX_BYTES
            && encodings
                .iter()
                .any(|&encoding| self.runs_for_bytes(legacy::encoded(form, encoding).len()))
    }

    /// Whether a password of `bytes` bytes (as hashed) is run against this hash: an old
    /// sha-crypt hash's cost grows with them ([`legacy::runs_for`]).
    fn runs_for_bytes(&self, bytes: usize) -> bool {
        match self {
            Stored::Argon2(_) => true,
            Stored::Legacy { hash, salted } => legacy::usable(hash, salted.as_ref())
                .is_none_or(|format| legacy::runs_for(format, bytes)),
        }
    }

    /// Whether a check that `matched` (or not), having run the stored hash (`ran`) or not, is
    /// followed by the dummy hash: a password not run, or a wrong one for an old hash cheaper than
    /// the dummy — by its format, or by the time it `took` against the dummy's last run here
    /// ([`Stored::quicker_than_the_dummy`]).
    fn dummy_after(&self, matched: bool, ran: bool, took: (Duration, Option<Duration>)) -> bool {
        !ran || (!matched && (self.cheaper_than_the_dummy() || self.quicker_than_the_dummy(took)))
    }

    /// Whether this old hash's run `took` (the first) under half of what the dummy last took
    /// on this node (the second; `None` before it has run: any old hash is): a bcrypt of a low
    /// cost, sha-crypt's default 5,000 rounds, a small PBKDF2 — formats that cost what their
    /// parameters say, and an export's parameters may be low. A wrong password for it costs the
    /// dummy too, so that it takes at most half a dummy more than a wrong password for an
    /// identifier that names no account, rather than a whole dummy less (a bcrypt of cost 4 took
    /// 11 ms against 37 ms). The stored argon2 hashes are the dummy's own parameters.
    fn quicker_than_the_dummy(&self, (took, dummy): (Duration, Option<Duration>)) -> bool {
        matches!(self, Stored::Legacy { .. }) && dummy.is_none_or(|dummy| took < dummy / 2)
    }

    /// Whether checking this hash costs microseconds rather than a hash's worth of work: an old
    /// md5-crypt or salted SHA hash (a fixed, tiny cost), or one that is never run (a format the
    /// verifier does not know, a cost over a cap). The slower old formats (bcrypt, PBKDF2,
    /// sha-crypt, scrypt, argon2) cost what their parameters say (docs/security.md, "Timing and
    /// enumeration").
    fn cheaper_than_the_dummy(&self) -> bool {
        let Stored::Legacy { hash, salted } = self else {
            return false;
        };
        match legacy::detect(hash, salted.as_ref()) {
            None
            | Some(
                LegacyFormat::Md5Crypt | LegacyFormat::SaltedSha1 | LegacyFormat::SaltedSha256,
            ) => true,
            Some(format) => legacy::over_cap(hash, format).is_some(),
        }
    }
}

/// The passwords a kind's time stands for: those of the length class of `bytes` for a hash whose
/// cost `grows` with the password (an old sha-crypt hash), every one for the others.
fn length_of(grows: bool, bytes: usize) -> Length {
    if grows {
        Length::of(bytes)
    } else {
        Length::Any
    }
}

/// What one check found and took.
#[derive(Debug, Clone)]
struct Ran {
    /// Whether the password matched.
    matched: bool,
    /// The whole check: the stored hash, and the dummy after it where one ran.
    took: Duration,
    /// The bytes of each form of the password a hash may run (one or two; the typed one when
    /// none may), whether or not this one ran them: a wrong password waits for the slowest
    /// kind's time of each, for its length (an old sha-crypt hash costs more for the longer
    /// one), so that a decomposed or NFKC-grown password takes alike for every account.
    due: Vec<usize>,
    /// The bytes of the form that ran, when one did: the length class a sha-crypt time is kept
    /// under.
    ran_bytes: Option<usize>,
    /// Whether `took` is what a wrong password for this hash takes: a check that ran the stored
    /// hash, wrong, or right where a wrong one would not run the dummy after it.
    typical: bool,
}

/// Whether a write of a check's counters waits for their turn on the node (`store/gate.rs`).
#[derive(Debug, Clone, Copy)]
enum Turn {
    /// Counting a check, or giving back one the pool refused: as many as clients post.
    Wait,
    /// Giving back a check that matched: one per hash that ran (the pool bounds them), and never
    /// refused for a queue, which would leave a right password counted as a failure.
    Skip,
}

/// Whose password is checked, from where.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// The account's counter: a user, an old account, or an identifier that names none.
    pub account: ThrottleKey,
    /// The client address, when known.
    pub address: Option<String>,
    /// The signed-in session the check is made in (the account page), if any.
    pub session: Option<String>,
    /// A login ([`Share::Login`]) or another check ([`Share::Other`]).
    pub share: Share,
    /// The e-service a login is for (the audit trail's `client_id`), if any.
    pub client: Option<String>,
    /// A second account counter the check counts on, for a check that proves one account but
    /// stands for a login of another's name (the account page's old username: the old account's
    /// counter, and the one a login of that name counts on).
    pub also: Option<ThrottleKey>,
}

impl Attempt {
    /// The user whose password is checked, when the account is one.
    fn user(&self) -> Option<&str> {
        match &self.account {
            ThrottleKey::User(id) => Some(id),
            _ => None,
        }
    }

    fn keys(&self) -> Vec<ThrottleKey> {
        let mut keys = vec![self.account.clone()];
        match &self.account {
            ThrottleKey::User(id) => keys.push(ThrottleKey::Checks(id.clone())),
            // An old account's password, right or wrong (a claim by it can be posted again and
            // again: nothing of the login is used up), counted apart from the users'.
            ThrottleKey::Legacy(id) => keys.push(ThrottleKey::Checks(format!("legacy:{id}"))),
            _ => {}
        }
        // Never the account's counter twice (a name whose login counts on the very old account
        // it proves): a check refused by the pool gives back once a counter it added to once.
        keys.extend(
            self.also
                .iter()
                .filter(|also| **also != self.account)
                .cloned(),
        );
        if let Some(address) = &self.address {
            keys.push(ThrottleKey::Address(address.clone()));
        }
        keys
    }

    fn holders(&self, tenant: &str) -> Holders {
        Holders {
            session: self.session.clone(),
            account: Some(format!("{tenant}:{}", self.account.column())),
            address: self.address.clone(),
        }
    }
}

/// What a check found.
#[derive(Debug)]
pub enum Checked<T> {
    /// The password matched; what the work after it gave.
    Matched(T),
    /// The password did not match (counted).
    Wrong,
    /// Too many checks of the account or from the address: not checked (429, Retry-After).
    Throttled {
        /// Seconds until the block ends.
        retry_after: i64,
    },
    /// The session, account or address already has its share of the hashing pool running: not
    /// checked (429).
    TooMany,
    /// The hashing pool is full: not checked (503, Retry-After).
    Busy,
}

/// Where checks run: the store that counts them and the pool that hashes.
#[derive(Debug, Clone, Copy)]
pub struct PasswordCheck<'a> {
    /// The database (the throttle's counters).
    pub store: &'a Store,
    /// The hashing pool.
    pub pool: &'a HashPool,
    /// The node's metrics (a check refused by the throttle is counted at once: it commits
    /// nothing else).
    pub metrics: &'a Metrics,
    /// The tenant.
    pub tenant: &'a TenantConfig,
    /// The time of the request.
    pub now: NaiveDateTime,
}

impl PasswordCheck<'_> {
    /// Checks `password` against `stored` for `attempt`, throttled; on a match runs `then` on the
    /// same hashing thread (re-hashing an old password, hashing a new one) and gives its result.
    pub async fn run<T, F>(
        &self,
        attempt: &Attempt,
        stored: Stored,
        password: SecretString,
        then: F,
    ) -> Result<Checked<T>, StoreError>
    where
        F: FnOnce(&SecretString) -> T + Send + 'static,
        T: Send + 'static,
    {
        let keys = attempt.keys();
        // The store's closures run on another thread and need their own copy of the tenant.
        let tenant = Arc::new(self.tenant.clone());
        let user = attempt.user().map(str::to_string);
        let (address, client) = (attempt.address.clone(), attempt.client.clone());
        // Counted, and a refusal that is the first of its block audited, in one transaction.
        let reserved = match self
            .counted(
                &tenant,
                keys.clone(),
                Turn::Wait,
                move |conn, tenant, keys, now| {
                    write_transaction(conn, |conn| {
                        let reserved = throttle::reserve(conn, tenant, keys, ALLOWANCE, now)?;
                        if let Err(blocked) = &reserved {
                            let event = audit::Event::new(tenant.id(), now, "login.throttled")
                                .user(user.as_deref())
                                .client(client.as_deref())
                                .address(address.as_deref());
                            if let Some(event) = blocked.audit(event) {
                                event.record(conn)?;
                            }
                        }
                        Ok(reserved)
                    })
                },
            )
            .await
        {
            // Two checks of one of its counters wait already on this node (`store/gate.rs`): as
            // when they hold the account's or the address's places in the hashing pool.
            Err(StoreError::Crowded) => return Ok(Checked::TooMany),
            reserved => reserved?,
        };
        if let Err(blocked) = reserved {
            let retry_after = (blocked.until - self.now).num_seconds().max(1);
            self.metrics
                .add(&self.tenant.id, &[Counted::Login(LoginOutcome::Throttled)]);
            return Ok(Checked::Throttled { retry_after });
        }
        let (kind, grows) = (stored.kind().to_string(), stored.grows());
        let encodings = self.tenant.legacy.password_encodings.clone();
        let verified = self
            .pool
            .run_for(
                attempt.share,
                &attempt.holders(&self.tenant.id),
                move || {
                    let ran = stored.check(&password, &encodings);
                    // What a match re-hashes (an old password) in the form new ones are kept in,
                    // unless that form is longer than a password may be (NFKC can grow a text
                    // eighteenfold): then as typed, or no later check would run it.
                    let typed = password.expose_secret();
                    let normal = normalised(typed);
                    let kept = if normal.len() <= MAX_BYTES {
                        normal.as_ref()
                    } else {
                        typed
                    };
                    let kept = SecretString::from(kept.to_string());
                    (ran.matched.then(|| then(&kept)), ran)
                },
            )
            .await;
        let pace = self.pool.pace();
        if let Ok((_, ran)) = &verified
            && ran.typical
            && let Some(bytes) = ran.ran_bytes
        {
            pace.record(&self.tenant.id, (&kind, length_of(grows, bytes)), ran.took);
        }
        Ok(match verified {
            Ok((Some(value), _)) => {
                self.counted(&tenant, keys, Turn::Skip, |conn, tenant, keys, now| {
                    throttle::give_back(conn, tenant, keys, ALLOWANCE, now, true)
                })
                .await?;
                Checked::Matched(value)
            }
            Ok((None, ran)) => {
                // As long as the tenant's slowest kind of hash: whether the identifier names an
                // account, and of which kind of hash, does not show in the time.
                let floor: Duration = ran
                    .due
                    .iter()
                    .map(|&b| pace.floor(&self.tenant.id, b))
                    .sum();
                tokio::time::sleep(floor.saturating_sub(ran.took)).await;
                Checked::Wrong
            }
            // Not checked: the check is given back.
            Err(refused) => {
                self.counted(&tenant, keys, Turn::Wait, |conn, tenant, keys, now| {
                    throttle::give_back(conn, tenant, keys, ALLOWANCE, now, false)
                })
                .await?;
                match refused {
                    Refused::TooMany => Checked::TooMany,
                    Refused::Busy => Checked::Busy,
                }
            }
        })
    }

    /// Runs `f` on the tenant's counters `keys`, on a blocking thread, in their turn on this node
    /// or not (`turn`).
    async fn counted<T, F>(
        &self,
        tenant: &Arc<TenantConfig>,
        keys: Vec<ThrottleKey>,
        turn: Turn,
        f: F,
    ) -> Result<T, StoreError>
    where
        F: FnOnce(
                &mut crate::store::DbConnection,
                Tenant<'_>,
                &[ThrottleKey],
                NaiveDateTime,
            ) -> Result<T, StoreError>
            + Send
            + 'static,
        T: Send + 'static,
    {
        let (tenant, now) = (tenant.clone(), self.now);
        // One check of a counter at a time on this node goes to the database, where it would
        // wait for the counter's row holding a connection; the others wait here, without one.
        let turns: Vec<String> = match turn {
            Turn::Wait => keys
                .iter()
                .map(|k| throttle::gated(Tenant::of(&tenant), k))
                .collect(),
            Turn::Skip => Vec::new(),
        };
        self.store
            .run_in_turn(&turns, move |conn| f(conn, Tenant::of(&tenant), &keys, now))
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use secrecy::SecretString;

    use super::{DUMMY_HASH, Length, MAX_BYTES, Stored, length_of};
    use crate::config::PasswordEncoding;

    /// The default encoding of old passwords.
    const UTF8: &[PasswordEncoding] = &[PasswordEncoding::Utf8];
    /// An old login page that sent windows-1252, its newer one UTF-8.
    const BOTH: &[PasswordEncoding] = &[PasswordEncoding::Utf8, PasswordEncoding::Windows1252];

    /// A password of `bytes` letters "a".
    fn a(bytes: usize) -> String {
        "a".repeat(bytes)
    }

    /// The sha512-crypt hash of "salasana123" (tests/data/legacy_hashes.tsv).
    const SHA512_CRYPT: &str = "$6$Z4bpj4wF9dn4fmPX$.QwhICvr3HCdjUW3QuDObHJ8CfGsxrx4j2kvdiwZTXKFe5claminEjKAiQ.7w1kb459KgfrfQaTekaGB0rjSe1";
    /// The md5-crypt hash of "salasana123" (tests/data/legacy_hashes.tsv).
    const MD5_CRYPT: &str = "$1$17qgkpUr$JJp0rtEuEMZdk1o/1OR8U/";
    /// The salted SHA-1 hash of "salasana123" in layout `a` (tests/data/legacy_salted_sha.tsv).
    const SALTED_SHA1: &str = "oN_oV1uckkOT$fa32a665ffd9edd6d71b9925238c0e3153c2e5c8";

    fn legacy(hash: &str) -> Stored {
        // Layout `a` of the vectors.
        let salted = crate::crypto::legacy::tests::layout_a();
        Stored::Legacy {
            hash: hash.to_string(),
            salted: Some(salted),
        }
    }

    #[test]
    fn the_old_hashes_cheaper_than_the_dummy_are_told_apart() {
        for cheap in [MD5_CRYPT, SALTED_SHA1, "no known format", "$2b$31$abc"] {
            assert!(legacy(cheap).cheaper_than_the_dummy(), "{cheap}");
        }
        let bcrypt = "$2b$04$cd/PVnsiDJWMgHzgjB6kau.clFYNpL7uSV7.RvpKRpDfZlfAkPTY2";
        for costly in [bcrypt, SHA512_CRYPT, DUMMY_HASH] {
            assert!(!legacy(costly).cheaper_than_the_dummy(), "{costly}");
        }
        assert!(!Stored::Argon2(DUMMY_HASH.to_string()).cheaper_than_the_dummy());
    }

    /// A wrong password for a cheap old hash costs the dummy hash too, so that it takes as long
    /// as a wrong password for an identifier that names no account; a right one, or a wrong one
    /// for a costly hash, does not. (Decided, not timed: timing tests fail on a busy machine.)
    #[test]
    fn a_wrong_password_for_a_cheap_old_hash_costs_the_dummy_hash() {
        let (wrong, right) = (
            SecretString::from("väärä"),
            SecretString::from("salasana123"),
        );
        // What a run took against the dummy's last run: the formats of a tiny cost whatever
        // the times say, the others by their times.
        let ms = Duration::from_millis;
        let (slow, quick, first) = (
            (ms(20), Some(ms(13))),
            (ms(1), Some(ms(13))),
            (ms(20), None),
        );
        for hash in [MD5_CRYPT, SALTED_SHA1] {
            let stored = legacy(hash);
            assert!(!stored.check(&wrong, UTF8).matched, "{hash}");
            assert!(stored.dummy_after(false, true, slow), "{hash}");
            assert!(stored.check(&right, UTF8).matched, "{hash}");
            assert!(!stored.dummy_after(true, true, quick), "{hash}");
        }
        assert!(legacy("no known format").dummy_after(false, true, slow));
        let bcrypt = "$2b$04$cd/PVnsiDJWMgHzgjB6kau.clFYNpL7uSV7.RvpKRpDfZlfAkPTY2";
        assert!(legacy(bcrypt).dummy_after(false, true, quick));
        assert!(legacy(bcrypt).dummy_after(false, true, first));
        assert!(!legacy(bcrypt).dummy_after(false, true, (ms(7), Some(ms(13)))));
        assert!(!legacy(bcrypt).dummy_after(true, true, quick));
        let argon2 = Stored::Argon2(DUMMY_HASH.to_string());
        assert!(!argon2.dummy_after(false, true, quick));
        assert!(!argon2.dummy_after(false, true, first));
    }

    /// "ä" composed where the hash was made and decomposed where the password is typed (or the
    /// other way round) matches: a current hash of the normalised form, and an old system's of
    /// the composed text; one set before of the decomposed text as typed then still matches it;
    /// a wrong decomposed password tries both forms.
    #[test]
    fn a_password_matches_in_either_form_of_its_letters() {
        let composed = "S\u{e4}lasana-\u{c4}\u{d6}\u{e5} \u{20ac}";
        let decomposed = "Sa\u{308}lasana-A\u{308}O\u{308}a\u{30a} \u{20ac}";
        let secret = |text: &str| SecretString::from(text);
        let current = Stored::Argon2(crate::crypto::password::hash(&secret(composed)).unwrap());
        let before = Stored::Argon2(crate::crypto::password::hash(&secret(decomposed)).unwrap());
        // The reference vector of tests/data: sha512-crypt of the composed text.
        let old = legacy(
            "$6$Txv4mMDkGtqow.1h$g/NFJ4LKzBR5xZaXhSK8F9pLpsoZbC1IDsqS1leYYneGVGlSLw/1oUCspNOdYenvv91SugfmRp1CvECpTAFaB0",
        );
        for (name, stored) in [("current", &current), ("old", &old)] {
            for typed in [composed, decomposed] {
                assert!(
                    stored.check(&secret(typed), UTF8).matched,
                    "{name}, {typed:?}"
                );
            }
        }
        // A hash made before of the decomposed text matches it as it did then (typed composed,
        // it never did: the next change of password keeps the one form).
        assert!(before.check(&secret(decomposed), UTF8).matched);
        let wrong = current.check(&secret("va\u{308}a\u{308}ra\u{308}"), UTF8);
        assert_eq!((wrong.matched, wrong.due.len()), (false, 2));
        // Its time is not one try's: it teaches its kind nothing.
        assert!(!wrong.typical);
        assert_eq!(current.check(&secret("väärä"), UTF8).due.len(), 1);
        // A long one waits for as many tries for every kind: an old sha-crypt hash runs neither
        // form over 256 bytes, the dummy of an unknown identifier runs both.
        let long = format!("va\u{308}{}", "x".repeat(300));
        let dummy = Stored::Argon2(DUMMY_HASH.to_string()).check(&secret(&long), UTF8);
        let sha = legacy(SHA512_CRYPT).check(&secret(&long), UTF8);
        assert_eq!((dummy.due.len(), sha.due.len()), (2, 2));
        // A form NFKC grows is waited for at its own length: seven ligatures are 21 bytes typed,
        // 231 as NFKC, and an old sha-crypt hash runs both, the second at a longer class.
        let grown = "\u{fdfa}".repeat(7);
        let ran = legacy(SHA512_CRYPT).check(&secret(&grown), UTF8);
        assert_eq!(ran.due, [21, 231]);
        assert!(!ran.typical, "two tries teach nothing");
    }

    /// With two encodings an old sha-crypt hash costs what a password's longest bytes cost (a
    /// letter windows-1252 lacks is sent as `&#937;`, 6 bytes for 2): a check is timed, and a
    /// wrong password waits, at that length for every kind of hash alike; a check that could not
    /// run one encoding (too long for sha-crypt) teaches its kind nothing; and a long password
    /// whose old bytes were short enough still matches.
    #[test]
    fn an_old_password_is_measured_by_its_longest_encoding() {
        let secret = |text: &str| SecretString::from(text);
        let omegas = secret(&"Ω".repeat(31));
        let ran = legacy(SHA512_CRYPT).check(&omegas, BOTH);
        assert_eq!(ran.ran_bytes, Some(186));
        assert_eq!(ran.due, [186]);
        assert!(ran.typical);
        let dummy = Stored::Argon2(DUMMY_HASH.to_string()).check(&omegas, BOTH);
        assert_eq!(dummy.due, ran.due);
        assert_eq!(legacy(SHA512_CRYPT).check(&omegas, UTF8).due, [62]);

        // 74 bytes in UTF-8 run, 259 in windows-1252 (`&#1046;` each) do not: measured by the
        // 74 it ran, for the dummy too, and teaching its kind nothing.
        let cyrillic = secret(&"Ж".repeat(37));
        let skipped = legacy(SHA512_CRYPT).check(&cyrillic, BOTH);
        assert!(!skipped.matched && !skipped.typical);
        assert_eq!(skipped.due, [74]);
        let dummy = Stored::Argon2(DUMMY_HASH.to_string()).check(&cyrillic, BOTH);
        assert_eq!(dummy.due, skipped.due);

        let long = "ä".repeat(200);
        let bytes = crate::crypto::legacy::encoded(&long, PasswordEncoding::Windows1252);
        let params = sha_crypt::Sha512Params::new(5_000).unwrap();
        let sum = sha_crypt::sha512_crypt_b64(&bytes, b"pitkasuola", &params).unwrap();
        let old = legacy(&format!("$6$pitkasuola${sum}"));
        let ran = old.check(&secret(&long), BOTH);
        assert!(ran.matched);
        // Waited for at the 200 bytes it ran, not the 400 of its UTF-8 that no sha-crypt runs.
        assert_eq!(
            (ran.due.as_slice(), ran.ran_bytes),
            ([200].as_slice(), Some(200))
        );
        assert!(!old.check(&secret(&long), UTF8).matched);
    }

    /// A check whose second counter is its account's own counts on it once (a check the pool
    /// refused would give back twice what it added once).
    #[test]
    fn a_second_counter_that_is_the_accounts_own_counts_once() {
        use super::{Attempt, Share};
        use crate::store::throttle::ThrottleKey;
        let old = ThrottleKey::Legacy("a".into());
        let attempt = |also: Option<ThrottleKey>| Attempt {
            account: old.clone(),
            address: None,
            session: None,
            share: Share::Other,
            client: None,
            also,
        };
        let checks = ThrottleKey::Checks("legacy:a".into());
        let once = [old.clone(), checks.clone()];
        assert_eq!(attempt(Some(old.clone())).keys(), once);
        let other = ThrottleKey::Unknown("x".into());
        assert_eq!(attempt(Some(other.clone())).keys(), [old, checks, other]);
    }

    /// A password longer than any password can be is never run against a stored hash, and one
    /// over 256 bytes never against an old sha-crypt hash (whose cost grows with the password: a
    /// 64 KiB one would cost minutes at the rounds' cap); it costs the dummy hash instead, and
    /// never matches. (Decided, not timed.)
    #[test]
    fn an_overlong_password_is_not_run_against_the_stored_hash() {
        let bcrypt = "$2b$04$cd/PVnsiDJWMgHzgjB6kau.clFYNpL7uSV7.RvpKRpDfZlfAkPTY2";
        let argon2 = Stored::Argon2(DUMMY_HASH.to_string());
        for stored in [legacy(SHA512_CRYPT), legacy(bcrypt), argon2.clone()] {
            assert!(!stored.runs_for(&a(MAX_BYTES + 1), UTF8), "{stored:?}");
            let took = (Duration::ZERO, None);
            assert!(stored.dummy_after(false, false, took), "{stored:?}");
            let ran = stored.check(&SecretString::from("a".repeat(64 * 1024)), UTF8);
            // Not the hash's time: it would pull its kind's time down to the dummy's.
            assert!(!ran.matched && !ran.typical, "{stored:?}");
        }
        // One run against the hash is its time.
        assert!(
            legacy(bcrypt)
                .check(&SecretString::from("väärä"), UTF8)
                .typical
        );
        // A sha-crypt hash's time is kept per length class; the others' for every length.
        let sha = legacy(SHA512_CRYPT);
        assert_eq!(sha.kind(), "$6");
        assert_eq!(length_of(sha.grows(), 10), Length::of(10));
        assert_ne!(length_of(sha.grows(), 200), length_of(sha.grows(), 10));
        assert_eq!(length_of(legacy(bcrypt).grows(), 200), Length::Any);
        assert!(!legacy(SHA512_CRYPT).runs_for(&a(257), UTF8));
        assert!(legacy(SHA512_CRYPT).runs_for(&a(256), UTF8));
        assert!(legacy(bcrypt).runs_for(&a(MAX_BYTES), UTF8));
        assert!(argon2.runs_for(&a(MAX_BYTES), UTF8));
    }

    /// No file but this one (and the crypto modules that define them, with their tests) calls the
    /// verifiers: every password check goes through the throttle.
    #[test]
    fn nothing_else_verifies_a_password() {
        fn walk(dir: &Path, found: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, found);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    let name = path.to_string_lossy().replace('\\', "/");
                    let allowed = [
                        "flows/password_check.rs",
                        "crypto/password.rs",
                        "crypto/legacy.rs",
                    ]
                    .iter()
                    .any(|a| name.ends_with(a));
                    let calls = [
                        "password::verify(",
                        "legacy::verify(",
                        "legacy::verify_in(",
                        ".verify_password(",
                    ];
                    if !allowed && calls.iter().any(|c| text.contains(c)) {
                        found.push(name);
                    }
                }
            }
        }
        let mut found = Vec::new();
        walk(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("idp"),
            &mut found,
        );
        assert!(
            found.is_empty(),
            "password checks outside the throttle: {found:?}"
        );
    }
}
