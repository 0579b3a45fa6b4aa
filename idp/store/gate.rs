//! A node lets few requests at a time wait for a lock of the database a client can name.
//!
//! On PostgreSQL, a mail's limits (`mail_limits.rs`: an advisory lock per recipient and per client
//! address) and a password check's counters (`throttle.rs`: a row lock per account and per client
//! address) make the requests of one key take turns, as they must. A request waiting for such a
//! lock holds a pooled connection all the while: a client that kept more requests of one key in
//! flight than the locked work serves (hundreds a second, from one address) had every connection
//! of every node waiting in one queue, and every other request answered 503 after the pool's
//! wait. Here a node lets [`PER_KEY`] requests of a key in at once (one at work, one waiting for
//! it in the database: two residents behind one address asking at the same moment both go on);
//! a further one is refused at once, without waiting ([`Crowded`]). A key holds at most two
//! connections of a node. The caller answers that as its own refusal would: a mail as one past
//! its limit, any other as a busy database (503 with `Retry-After`).
//!
//! The keys entered are held until the end of the request's [`super::Store::run`] (its
//! transaction committed or rolled back), so that the next request of the key finds the lock
//! free. Outside a `run` (the command line, the workers) nothing is gated.
//!
//! Password checks, which residents behind one address (an office, a mobile operator's NAT) make
//! many of at once, are not refused so: they wait for their keys' [`Turns`] first, without a
//! connection (`Store::run_in_turn`), so that a node has one of them at a time at the database.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::OwnedMutexGuard;

use super::StoreError;

/// Requests of one key a node lets in at once.
pub const PER_KEY: usize = 2;

/// The keys the requests of this node are inside, and how many of them each.
#[derive(Debug, Default)]
pub struct Gate {
    inside: Mutex<HashMap<String, usize>>,
}

/// The gate of the `run` on this thread, and the keys it entered.
struct Current {
    gate: Arc<Gate>,
    entered: Vec<String>,
}

thread_local! {
    static CURRENT: RefCell<Option<Current>> = const { RefCell::new(None) };
}

/// Leaves the keys a `run` entered when it ends, even by a panic.
struct Within;

impl Drop for Within {
    fn drop(&mut self) {
        if let Some(current) = CURRENT.with(|c| c.borrow_mut().take()) {
            let mut inside = current
                .gate
                .inside
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for key in &current.entered {
                match inside.get_mut(key) {
                    Some(n) if *n > 1 => *n -= 1,
                    _ => {
                        inside.remove(key);
                    }
                }
            }
        }
    }
}

impl Gate {
    /// Runs `f` with this gate for its [`enter`] calls; the keys entered are left when it ends.
    pub fn within<R>(self: &Arc<Self>, f: impl FnOnce() -> R) -> R {
        CURRENT.with(|c| {
            *c.borrow_mut() = Some(Current {
                gate: self.clone(),
                entered: Vec::new(),
            });
        });
        let _within = Within;
        f()
    }

    /// How many requests are inside now, over all keys.
    pub fn inside(&self) -> usize {
        self.inside
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .sum()
    }
}

/// [`PER_KEY`] other requests of this node are inside a key: the index of the first such key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crowded(pub usize);

impl From<Crowded> for StoreError {
    fn from(_: Crowded) -> Self {
        StoreError::Crowded
    }
}

/// Enters every key of `keys` for the rest of this `run` (one it entered already is kept), or
/// none: [`Crowded`] when [`PER_KEY`] other requests of this node are inside one of them. Call it
/// before the statements that wait for the keys' locks.
pub fn enter(keys: &[String]) -> Result<(), Crowded> {
    CURRENT.with(|c| {
        let mut current = c.borrow_mut();
        let Some(current) = current.as_mut() else {
            return Ok(());
        };
        let mut inside = current
            .gate
            .inside
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let full = |k: &String| {
            !current.entered.contains(k) && inside.get(k).is_some_and(|n| *n >= PER_KEY)
        };
        if let Some(index) = keys.iter().position(full) {
            return Err(Crowded(index));
        }
        let new: HashSet<&String> = keys
            .iter()
            .filter(|k| !current.entered.contains(k))
            .collect();
        for key in new {
            *inside.entry(key.clone()).or_default() += 1;
            current.entered.push(key.clone());
        }
        Ok(())
    })
}

/// A node's turns at keys, waited for without a connection: one request of a key at a time.
#[derive(Debug, Default)]
pub struct Turns {
    keys: Mutex<Keys>,
}

/// The keys with a request at them or waiting for them (and some no longer: see [`Keys::sweep`]).
#[derive(Debug, Default)]
struct Keys {
    locks: HashMap<String, Arc<tokio::sync::Mutex<()>>>,
    /// How many keys make the next sweep.
    sweep_at: usize,
}

impl Keys {
    /// Forgets the keys no request holds or awaits (each of those holds a clone of its lock):
    /// a request gone while it waited (its client left) leaves its key behind, unless the one
    /// at it leaves after it. Swept when they have doubled, so each costs once.
    fn sweep(&mut self) {
        if self.locks.len() >= self.sweep_at {
            self.locks.retain(|_, lock| Arc::strong_count(lock) > 1);
            self.sweep_at = (self.locks.len() * 2).max(1024);
        }
    }
}

/// The turn at some keys: given to the next request of each when dropped.
#[derive(Debug)]
pub struct Turn {
    turns: Arc<Turns>,
    held: Vec<(String, OwnedMutexGuard<()>)>,
}

impl Turns {
    /// Waits for the turn at every key of `keys` (in a fixed order, so that two requests of the
    /// same keys never wait for each other's half), first come first served.
    pub async fn take(self: &Arc<Self>, keys: &[String]) -> Turn {
        let mut keys: Vec<&String> = keys.iter().collect();
        keys.sort_unstable();
        keys.dedup();
        let mut turn = Turn {
            turns: self.clone(),
            held: Vec::with_capacity(keys.len()),
        };
        for key in keys {
            let lock = {
                let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
                keys.sweep();
                keys.locks.entry(key.clone()).or_default().clone()
            };
            turn.held.push((key.clone(), lock.lock_owned().await));
        }
        turn
    }

    /// How many keys have a request at them or waiting for them.
    pub fn busy(&self) -> usize {
        self.keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .locks
            .len()
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let held = std::mem::take(&mut self.held);
        let mut keys = self
            .turns
            .keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for (key, guard) in held {
            drop(guard);
            // Forgotten when no request holds or awaits it (each of those holds a clone).
            if keys
                .locks
                .get(&key)
                .is_some_and(|lock| Arc::strong_count(lock) == 1)
            {
                keys.locks.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    fn keys(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    /// Enters `names` in a run of `gate` on another thread: what it answered, and a sender that
    /// ends the run.
    fn run_inside(
        gate: &Arc<Gate>,
        names: &'static [&'static str],
    ) -> (Result<(), Crowded>, mpsc::Sender<()>) {
        let (end, ended) = mpsc::channel::<()>();
        let (told, answer) = mpsc::channel();
        let gate = gate.clone();
        std::thread::spawn(move || {
            gate.within(|| {
                told.send(enter(&keys(names))).unwrap();
                let _ = ended.recv();
            });
        });
        (answer.recv().unwrap(), end)
    }

    #[test]
    fn a_key_lets_two_runs_in_at_a_time_and_each_leaves_at_its_end() {
        let gate = Arc::new(Gate::default());
        gate.within(|| {
            enter(&keys(&["a", "b"])).unwrap();
            // Its own keys again, and a new one: entered once.
            enter(&keys(&["a", "c"])).unwrap();
            assert_eq!(gate.inside(), 3);
            // A second run of a key inside: let in. A third: refused, none of its keys entered.
            let (second, end_second) = run_inside(&gate, &["b"]);
            second.unwrap();
            assert_eq!(gate.inside(), 4);
            let (third, _) = run_inside(&gate, &["d", "b"]);
            assert_eq!(third, Err(Crowded(1)), "the second key is full");
            let (fourth, _) = run_inside(&gate, &["d"]);
            fourth.unwrap();
            drop(end_second);
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while gate.inside() != 3 {
                assert!(std::time::Instant::now() < deadline, "the runs never left");
                std::thread::yield_now();
            }
        });
        assert_eq!(gate.inside(), 0);
        // Outside a run nothing is gated.
        enter(&keys(&["a"])).unwrap();
        assert_eq!(gate.inside(), 0);
    }

    #[tokio::test]
    async fn a_turn_is_one_requests_at_a_time_and_forgotten_after_the_last() {
        let turns = Arc::new(Turns::default());
        let first = turns.take(&keys(&["b", "a", "a"])).await;
        assert_eq!(turns.busy(), 2);
        let waiting = {
            let turns = turns.clone();
            tokio::spawn(async move { turns.take(&keys(&["a", "c"])).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "a is the first's");
        let other = turns.take(&keys(&["d"])).await;
        drop(first);
        let second = waiting.await.unwrap();
        assert_eq!(turns.busy(), 3, "a, c and d");
        drop((second, other));
        assert_eq!(turns.busy(), 0);

        // A request gone while it waited (its client left) leaves its key, until a sweep.
        let held = turns.take(&keys(&["e"])).await;
        let gone = {
            let turns = turns.clone();
            tokio::spawn(async move { turns.take(&keys(&["e"])).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        drop(held);
        gone.abort();
        let _ = gone.await;
        turns.keys.lock().unwrap().sweep_at = 0;
        let other = turns.take(&keys(&["f"])).await;
        assert_eq!(turns.busy(), 1, "only f");
        drop(other);
    }

    #[test]
    fn a_run_that_panics_leaves_its_keys() {
        let gate = Arc::new(Gate::default());
        let inner = gate.clone();
        let panicked = std::thread::spawn(move || {
            inner.within(|| {
                enter(&keys(&["a"])).unwrap();
                panic!("a bug");
            })
        })
        .join();
        assert!(panicked.is_err());
        assert_eq!(gate.inside(), 0);
    }
}
