//! The bounded pool that runs password hashing off the async executor.
//!
//! At most `workers` hashes run at once (each ~17 ms of a core at OWASP parameters), on that many
//! dedicated threads; at most `queue` more wait. Beyond that a login is refused at once — the
//! caller answers 503 with Retry-After — instead of piling up until every request times out.
//!
//! Dedicated threads, not tokio's blocking pool, for two reasons measured by `scripts/bench.sh`:
//! argon2 allocates its 19 MiB per hash in the allocator arena of the thread it runs on, and
//! glibc keeps a freed block of that size in the arena, so hashes spread over tokio's many
//! blocking threads held a block each (600 MB under the login load; two threads hold two).
//! And the threads run at a lower priority (nice 10): when logins saturate the cores, the
//! scheduler still gives the cheap requests (tokens, discovery, userinfo) their turn at once.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use tokio::sync::{Semaphore, oneshot};

/// The pool is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the password hashing queue is full")]
pub struct Busy;

type Job = Box<dyn FnOnce() + Send>;

/// Admission limit and the hashing threads.
#[derive(Debug)]
pub struct HashPool {
    admitted: Semaphore,
    jobs: Mutex<mpsc::Sender<Job>>,
}

/// The scheduling priority of the hashing threads (0 is normal, 19 the lowest).
const NICE: i32 = 10;

impl HashPool {
    /// `workers` hashes at once on as many threads, `queue` more waiting.
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
        HashPool {
            admitted: Semaphore::new(workers + queue),
            jobs: Mutex::new(sender),
        }
    }

    /// One per core, and twice that waiting.
    pub fn for_this_machine() -> HashPool {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        HashPool::new(cores, cores * 2)
    }

    /// Runs `work` on a hashing thread when one is free; [`Busy`] when the queue is full (or
    /// when `work` panicked).
    pub async fn run<T, F>(&self, work: F) -> Result<T, Busy>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let _admitted = self.admitted.try_acquire().map_err(|_| Busy)?;
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            if let Ok(value) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)) {
                let _ = done.send(value);
            }
        });
        self.jobs
            .lock()
            .map_err(|_| Busy)?
            .send(job)
            .map_err(|_| Busy)?;
        result.await.map_err(|_| Busy)
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn refuses_beyond_its_queue() {
        let pool = Arc::new(HashPool::new(1, 1));
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let wait = Arc::new(std::sync::Mutex::new(wait));
        let blocking = {
            let pool = pool.clone();
            let wait = wait.clone();
            tokio::spawn(async move {
                pool.run(move || {
                    let _ = wait.lock().unwrap().recv_timeout(Duration::from_secs(5));
                })
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let queued = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.run(|| 2).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            pool.run(|| 3).await,
            Err(Busy),
            "one running, one queued: full"
        );
        release.send(()).unwrap();
        assert_eq!(blocking.await.unwrap(), Ok(()));
        assert_eq!(queued.await.unwrap(), Ok(2));
        assert_eq!(pool.run(|| 4).await, Ok(4));
    }
}
