//! The bounded pool that runs password hashing off the async executor.
//!
//! At most `workers` hashes run at once (each ~17 ms of a core at OWASP parameters), on that many
//! dedicated threads; at most `queue` more wait. Beyond that a login is refused at once — the
//! caller answers 503 with Retry-After — instead of piling up until every request times out.
//!
//! No one may starve the logins: half of the places are kept for logins ([`Share::Login`]), so
//! the account page's checks and the hashing of new passwords ([`Share::Other`]) can take at most
//! the other half; and one session or account may hold at most [`PER_HOLDER`] places at once, one
//! client address at most half of the pool ([`Holders`]) and, of the other half, at most half
//! again (at least one place), so that one address cannot keep every other address from
//! resetting, registering or changing a password. Past its share a request is refused at once
//! ([`Refused::TooMany`]: 429), never queued. Every hash names its holders: a login and a check
//! its session, account and address, a new password its address ([`HashPool::run`]).
//!
//! Dedicated threads, not tokio's blocking pool, for two reasons measured by `scripts/bench.sh`:
//! argon2 allocates its 19 MiB per hash in the allocator arena of the thread it runs on, and
//! glibc keeps a freed block of that size in the arena, so hashes spread over tokio's many
//! blocking threads held a block each (600 MB under the login load; two threads hold two).
//! And the threads run at a lower priority (nice 10): when logins saturate the cores, the
//! scheduler still gives the cheap requests (tokens, discovery, userinfo) their turn at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use crate::crypto::pace::Pace;
use crate::domain::counting_key;
use crate::telemetry::metrics::KindLabels;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

/// Why the pool did not run a hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The pool (or the share of it that this kind of work may take) is full: answer 503 with
    /// Retry-After.
    #[error("the password hashing queue is full")]
    Busy,
    /// One session, account or client address already holds its share of the pool: answer 429.
    #[error("too many password checks at once for one session, account or address")]
    TooMany,
}

/// Which share of the pool a hash is taken from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Share {
    /// A login: may take the whole pool, and half of it is kept for logins alone.
    Login,
    /// Anything else (the account page's checks, hashing a new password): at most the half of
    /// the pool that logins do not keep.
    Other,
}

/// Who a hash is run for: each may hold at most its share of the pool at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holders {
    /// The signed-in session (its id's hash, or any stable key of it).
    pub session: Option<String>,
    /// The account whose password is checked.
    pub account: Option<String>,
    /// The client address (its share is counted under its [`counting_key`]: an IPv6 address per
    /// /64).
    pub address: Option<String>,
}

/// Hashes one session or one account may have running or waiting at once.
pub const PER_HOLDER: usize = 2;

type Job = Box<dyn FnOnce() + Send>;

/// Admission limits and the hashing threads.
#[derive(Debug)]
pub struct HashPool {
    /// Every hash running or waiting.
    admitted: Arc<Semaphore>,
    /// Those not of logins: at most what logins do not keep.
    others: Arc<Semaphore>,
    /// Hashes running or waiting per holder key.
    held: Arc<Mutex<HashMap<String, usize>>>,
    /// What one client address may hold (many residents may share one).
    per_address: usize,
    /// What one client address may hold of the others' places: half of them (at least one), so
    /// that the other half is left to the other addresses.
    per_address_of_others: usize,
    jobs: Mutex<mpsc::Sender<Job>>,
    /// Places of the pool: hashing threads and waiting places.
    capacity: usize,
    /// Hashes running on a thread now.
    running: Arc<AtomicUsize>,
    /// Refusals by kind: `busy` (503) and `too_many` (429).
    refused: Family<KindLabels, Counter>,
    /// Jobs run on a hashing thread, by share: `login` and `other`.
    ran: Family<KindLabels, Counter>,
    /// How long a wrong password takes at the least, per tenant.
    pace: Pace,
}

/// What the pool is doing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Load {
    /// Hashes admitted and waiting for a thread.
    pub queued: usize,
    /// Hashes running.
    pub running: usize,
}

/// The scheduling priority of the hashing threads (0 is normal, 19 the lowest).
const NICE: i32 = 10;

/// A holder's place in the pool, given back when the hash is done (or its job dropped).
struct Held {
    keys: Vec<String>,
    held: Arc<Mutex<HashMap<String, usize>>>,
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        for key in &self.keys {
            if let Some(n) = held.get_mut(key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    held.remove(key);
                }
            }
        }
    }
}

impl HashPool {
    /// `workers` hashes at once on as many threads, `queue` more waiting. Half of the places
    /// (at least one) are kept for logins.
    pub fn new(workers: usize, queue: usize) -> HashPool {
        let workers = workers.max(1);
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        for n in 0..workers {
            let receiver = receiver.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("idp-hash-{n}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        // The lock is held only while waiting for the next job.
                        let job = match receiver.lock() {
                            Ok(receiver) => receiver.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return, // the pool was dropped
                        }
                    }
                });
            if let Err(error) = spawned {
                tracing::error!(%error, "cannot start a password hashing thread");
            }
        }
        let capacity = workers + queue;
        let kept_for_logins = (capacity / 2).max(1);
        let for_others = capacity.saturating_sub(kept_for_logins);
        HashPool {
            admitted: Arc::new(Semaphore::new(capacity)),
            others: Arc::new(Semaphore::new(for_others)),
            held: Arc::default(),
            per_address: (capacity / 2).max(PER_HOLDER),
            per_address_of_others: (for_others / 2).max(1),
            jobs: Mutex::new(sender),
            capacity,
            running: Arc::default(),
            refused: Family::default(),
            ran: Family::default(),
            pace: Pace::default(),
        }
    }

    /// Hashes waiting and running now.
    pub fn load(&self) -> Load {
        let admitted = self
            .capacity
            .saturating_sub(self.admitted.available_permits());
        let running = self.running.load(Ordering::Relaxed);
        Load {
            queued: admitted.saturating_sub(running),
            running,
        }
    }

    /// The refusals so far, by kind (`busy`: answered 503; `too_many`: 429); the metric
    /// `idp_hashing_refused_total`.
    pub fn refusals(&self) -> Family<KindLabels, Counter> {
        self.refused.clone()
    }

    /// The jobs run so far on a hashing thread, by share (`login`, `other`); the metric
    /// `idp_hashing_runs_total`. A job is one hash, or two when a check's work after a match
    /// hashes again (an old account's password re-hashed, the account page's new password).
    pub fn runs(&self) -> Family<KindLabels, Counter> {
        self.ran.clone()
    }

    /// The least time a wrong password takes, per tenant, from the hashes run here.
    pub fn pace(&self) -> &Pace {
        &self.pace
    }

    /// One per core, and twice that waiting.
    pub fn for_this_machine() -> HashPool {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        HashPool::new(cores, cores * 2)
    }

    /// Runs `work` (hashing a new password) on a hashing thread for the client `address`, from
    /// the share that logins do not keep: [`HashPool::run_for`] with the address as its holder
    /// (a reset or a registration has no session, and its account is the link's, which the
    /// hash does not wait for). [`Refused::TooMany`] when the address holds its part of the
    /// share, [`Refused::Busy`] when the share is full (or when `work` panicked).
    pub async fn run<T, F>(&self, address: Option<String>, work: F) -> Result<T, Refused>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let holders = Holders {
            address,
            ..Holders::default()
        };
        self.run_for(Share::Other, &holders, work).await
    }

    /// Runs `work` on a hashing thread for `holders`, from `share`. [`Refused::TooMany`] when
    /// one of the holders already has its share running or waiting, [`Refused::Busy`] when the
    /// pool's share is full (or when `work` panicked). Never waits for a place.
    pub async fn run_for<T, F>(
        &self,
        share: Share,
        holders: &Holders,
        work: F,
    ) -> Result<T, Refused>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let admitted = self.admit(share, holders, work).await;
        if let Err(refused) = &admitted {
            let kind = match refused {
                Refused::Busy => "busy",
                Refused::TooMany => "too_many",
            };
            self.refused.get_or_create(&KindLabels { kind }).inc();
        }
        admitted
    }

    /// [`HashPool::run_for`], uncounted.
    async fn admit<T, F>(&self, share: Share, holders: &Holders, work: F) -> Result<T, Refused>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let held = self.hold(share, holders)?;
        let other = match share {
            Share::Login => None,
            Share::Other => Some(
                self.others
                    .clone()
                    .try_acquire_owned()
                    .map_err(|_| Refused::Busy)?,
            ),
        };
        let admitted = self
            .admitted
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refused::Busy)?;
        let places: (Held, Option<OwnedSemaphorePermit>, OwnedSemaphorePermit) =
            (held, other, admitted);
        let (done, result) = oneshot::channel();
        let running = self.running.clone();
        let kind = match share {
            Share::Login => "login",
            Share::Other => "other",
        };
        // A handle on the share's counter (a clone counts on the same value).
        let ran = self.ran.get_or_create(&KindLabels { kind }).clone();
        // The places go with the job: they are given back when the hash is done, even if the
        // request that asked for it has gone meanwhile — and before its result is sent, so that
        // the holder's next request (a resident's retry) never finds its own finished hash still
        // holding a place (a hashing thread runs at a lower priority and may be preempted
        // between the two).
        let job: Job = Box::new(move || {
            ran.inc();
            running.fetch_add(1, Ordering::Relaxed);
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
            running.fetch_sub(1, Ordering::Relaxed);
            drop(places);
            if let Ok(value) = outcome {
                let _ = done.send(value);
            }
        });
        self.jobs
            .lock()
            .map_err(|_| Refused::Busy)?
            .send(job)
            .map_err(|_| Refused::Busy)?;
        result.await.map_err(|_| Refused::Busy)
    }

    /// Takes a place for each of `holders` (an address of the others' share takes one of its
    /// part of that share too), or none when one of them has no place left.
    fn hold(&self, share: Share, holders: &Holders) -> Result<Held, Refused> {
        let address = holders.address.as_deref().map(counting_key);
        let keys: Vec<(String, usize)> = [
            holders
                .session
                .as_ref()
                .map(|k| (format!("session:{k}"), PER_HOLDER)),
            holders
                .account
                .as_ref()
                .map(|k| (format!("account:{k}"), PER_HOLDER)),
            address
                .as_ref()
                .map(|k| (format!("address:{k}"), self.per_address)),
            address.as_ref().filter(|_| share == Share::Other).map(|k| {
                let limit = self.per_address_of_others;
                (format!("others-address:{k}"), limit)
            }),
        ]
        .into_iter()
        .flatten()
        .collect();
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if keys
            .iter()
            .any(|(key, limit)| held.get(key).is_some_and(|n| n >= limit))
        {
            return Err(Refused::TooMany);
        }
        for (key, _) in &keys {
            *held.entry(key.clone()).or_default() += 1;
        }
        Ok(Held {
            keys: keys.into_iter().map(|(key, _)| key).collect(),
            held: self.held.clone(),
        })
    }
}

/// Lowers the calling thread's scheduling priority to [`NICE`]. On Linux the nice value is a
/// thread's own (setpriority(2), "BUGS"), so this leaves the other threads alone; raising it
/// back would need a privilege, so only the hashing threads call this.
fn lower_priority() {
    if let Err(error) = rustix::process::setpriority_process(None, NICE) {
        tracing::warn!(%error, "cannot lower the priority of a password hashing thread");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    /// A job that runs until the returned sender sends (or 5 s pass).
    fn blocker() -> (std::sync::mpsc::Sender<()>, impl FnOnce() + Send + 'static) {
        let (release, wait) = std::sync::mpsc::channel::<()>();
        (release, move || {
            let _ = wait.recv_timeout(Duration::from_secs(5));
        })
    }

    async fn settle() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn refuses_beyond_its_queue() {
        let pool = Arc::new(HashPool::new(1, 1));
        let login = Holders::default();
        let (release, work) = blocker();
        let blocking = {
            let (pool, login) = (pool.clone(), login.clone());
            tokio::spawn(async move { pool.run_for(Share::Login, &login, work).await })
        };
        settle().await;
        let queued = {
            let (pool, login) = (pool.clone(), login.clone());
            tokio::spawn(async move { pool.run_for(Share::Login, &login, || 2).await })
        };
        settle().await;
        assert_eq!(
            pool.load(),
            Load {
                queued: 1,
                running: 1
            }
        );
        assert_eq!(
            pool.run_for(Share::Login, &login, || 3).await,
            Err(Refused::Busy),
            "one running, one queued: full"
        );
        let busy = KindLabels { kind: "busy" };
        assert_eq!(pool.refusals().get_or_create(&busy).get(), 1);
        release.send(()).unwrap();
        assert_eq!(blocking.await.unwrap(), Ok(()));
        assert_eq!(queued.await.unwrap(), Ok(2));
        assert_eq!(pool.run_for(Share::Login, &login, || 4).await, Ok(4));
        assert_eq!(
            pool.load(),
            Load {
                queued: 0,
                running: 0
            }
        );
        assert_eq!(pool.refusals().get_or_create(&busy).get(), 1);
        let ran = |kind| pool.runs().get_or_create(&KindLabels { kind }).get();
        assert_eq!(
            (ran("login"), ran("other")),
            (3, 0),
            "the refused one never ran"
        );
    }

    /// Other work takes at most half of the places: the other half is the logins'.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn logins_keep_half_of_the_pool() {
        let pool = Arc::new(HashPool::new(1, 3));
        let (release, work) = blocker();
        let first = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.run(None, work).await })
        };
        settle().await;
        let second = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.run(None, || 2).await })
        };
        settle().await;
        assert_eq!(
            pool.run(None, || 3).await,
            Err(Refused::Busy),
            "the others' half is full"
        );
        let login = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.run_for(Share::Login, &Holders::default(), || 4).await })
        };
        settle().await;
        release.send(()).unwrap();
        assert_eq!(first.await.unwrap(), Ok(()));
        assert_eq!(second.await.unwrap(), Ok(2));
        assert_eq!(login.await.unwrap(), Ok(4), "a login still had its place");
        assert_eq!(pool.run(None, || 5).await, Ok(5), "places are given back");
    }

    /// A finished hash holds no place once its requester has the result: the holder's next
    /// request is never refused by its own previous one (which a preempted hashing thread could
    /// otherwise still hold).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_finished_hash_holds_no_place() {
        let pool = HashPool::new(2, 4);
        let holder = Holders {
            account: Some("a".into()),
            address: Some("127.0.0.1".into()),
            ..Holders::default()
        };
        for i in 0..200 {
            assert_eq!(pool.run_for(Share::Login, &holder, move || i).await, Ok(i));
            let held = pool.held.lock().unwrap().values().sum::<usize>();
            assert_eq!(held, 0, "after hash {i}");
        }
    }

    /// One session (or account) holds at most two places; an address half of the pool.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_holder_holds_at_most_its_share() {
        let pool = Arc::new(HashPool::new(2, 10));
        let session = Holders {
            session: Some("s".into()),
            ..Holders::default()
        };
        let mut releases = Vec::new();
        let mut running = Vec::new();
        for _ in 0..PER_HOLDER {
            let (release, work) = blocker();
            releases.push(release);
            let (pool, session) = (pool.clone(), session.clone());
            running.push(tokio::spawn(async move {
                pool.run_for(Share::Other, &session, work).await
            }));
        }
        settle().await;
        assert_eq!(
            pool.run_for(Share::Other, &session, || 1).await,
            Err(Refused::TooMany)
        );
        let other = Holders {
            session: Some("t".into()),
            ..Holders::default()
        };
        let elsewhere = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.run_for(Share::Other, &other, || 2).await })
        };
        for release in releases {
            release.send(()).unwrap();
        }
        for handle in running {
            assert_eq!(handle.await.unwrap(), Ok(()));
        }
        assert_eq!(
            elsewhere.await.unwrap(),
            Ok(2),
            "another session is not held up"
        );
        assert_eq!(pool.run_for(Share::Other, &session, || 3).await, Ok(3));
        assert_eq!(pool.per_address, 6);
    }

    /// An address's half of the pool is its /64's: taking another address of it for each request
    /// gets no more places. Before, each address had a half of its own.
    #[test]
    fn the_addresses_of_one_64_share_one_half() {
        let pool = HashPool::new(2, 10);
        let from = |n: usize, address: &str| Holders {
            account: Some(format!("account {n}")),
            address: Some(address.to_string()),
            ..Holders::default()
        };
        let held: Vec<Held> = (0..pool.per_address)
            .map(|n| pool.hold(Share::Login, &from(n, &format!("2001:db8:1:2::{n:x}"))))
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(matches!(
            pool.hold(Share::Login, &from(99, "2001:db8:1:2:ffff::99")),
            Err(Refused::TooMany)
        ));
        assert!(
            pool.hold(Share::Login, &from(99, "2001:db8:1:3::1"))
                .is_ok(),
            "another /64"
        );
        drop(held);
        assert!(
            pool.hold(Share::Login, &from(99, "2001:db8:1:2:ffff::99"))
                .is_ok()
        );
    }

    /// Of the places that logins do not keep, one address holds at most half (at least one): a
    /// reset or registration from another address still finds the other half. Logins and the
    /// address's place in the whole pool are counted as before.
    #[test]
    fn one_address_holds_at_most_half_of_the_others_share() {
        // 12 places: 6 kept for logins, 6 for the others, 3 of them for one address.
        let pool = HashPool::new(2, 10);
        assert_eq!(pool.per_address_of_others, 3);
        let at = |address: &str| Holders {
            address: Some(address.to_string()),
            ..Holders::default()
        };
        let held: Vec<Held> = (0..3)
            .map(|_| pool.hold(Share::Other, &at("192.0.2.66")))
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(matches!(
            pool.hold(Share::Other, &at("192.0.2.66")),
            Err(Refused::TooMany)
        ));
        let others: Vec<Held> = (0..3)
            .map(|_| pool.hold(Share::Other, &at("198.51.100.7")))
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            pool.hold(Share::Login, &at("192.0.2.66")).is_ok(),
            "its logins count on its half of the pool"
        );
        drop((held, others));
        assert!(pool.hold(Share::Other, &at("192.0.2.66")).is_ok());
        // The smallest pools: one place for the others, and it is an address's.
        assert_eq!(HashPool::new(1, 1).per_address_of_others, 1);
        assert_eq!(HashPool::new(1, 2).per_address_of_others, 1);
    }
}
