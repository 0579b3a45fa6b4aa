//! The bounded pool that runs password hashing off the async executor.
//!
//! At most `workers` hashes run at once (each ~17 ms of a core at OWASP parameters); at most
//! `queue` more wait. Beyond that a login is refused at once — the caller answers 503 with
//! Retry-After — instead of piling up until every request times out.

use tokio::sync::Semaphore;

/// The pool is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the password hashing queue is full")]
pub struct Busy;

/// Admission and concurrency limits for hashing.
#[derive(Debug)]
pub struct HashPool {
    admitted: Semaphore,
    running: Semaphore,
}

impl HashPool {
    /// `workers` hashes at once, `queue` more waiting.
    pub fn new(workers: usize, queue: usize) -> HashPool {
        HashPool {
            admitted: Semaphore::new(workers.max(1) + queue),
            running: Semaphore::new(workers.max(1)),
        }
    }

    /// One per core, and twice that waiting.
    pub fn for_this_machine() -> HashPool {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        HashPool::new(cores, cores * 2)
    }

    /// Runs `work` on a blocking thread when a worker is free; [`Busy`] when the queue is full.
    pub async fn run<T, F>(&self, work: F) -> Result<T, Busy>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let _admitted = self.admitted.try_acquire().map_err(|_| Busy)?;
        let _running = self.running.acquire().await.map_err(|_| Busy)?;
        tokio::task::spawn_blocking(work).await.map_err(|_| Busy)
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
