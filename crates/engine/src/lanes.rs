//! Runtime lanes (`--threads N`): the single-threaded runtime the run
//! started on, plus `N - 1` more, each on its own OS thread with its own
//! driver and so its own connections.
//!
//! One single-threaded runtime is the cheapest client per token (no
//! cross-thread wake-ups, no work stealing), but it is one core. Lanes keep
//! that cost and add cores: a worker (or an open-loop request) lives on one
//! lane from start to end, and its socket, timers and the HTTP connection
//! task stay on that lane's thread. Only the run's shared tallies (atomic
//! counters, a few histogram shards locked once per request) cross threads.

use std::future::Future;
use std::sync::Arc;

use stackbench_backends::{DriverError, StreamDriver};
use tokio::runtime::Handle;
use tokio::task::{AbortHandle, JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

/// The most runtime threads one run may start.
pub const MAX_THREADS: u32 = 256;

/// Why the extra runtime threads could not start.
#[derive(Debug, thiserror::Error)]
pub enum LaneError {
    /// The OS refused a thread or a runtime.
    #[error("cannot start runtime thread {lane}: {source}")]
    Thread {
        /// Lane number (1 is the first extra thread).
        lane: u32,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The lane's HTTP client could not be built.
    #[error("cannot create the HTTP client of runtime thread {lane}: {source}")]
    Driver {
        /// Lane number.
        lane: u32,
        /// The cause.
        #[source]
        source: DriverError,
    },
    /// More threads than [`MAX_THREADS`], or none.
    #[error("--threads must be between 1 and {MAX_THREADS}, not {0}")]
    Count(u32),
}

/// One runtime thread and the driver its requests go through.
pub(crate) struct Lane {
    /// Its number (0: the runtime the run is driven from).
    pub(crate) index: usize,
    pub(crate) driver: Arc<StreamDriver>,
    /// `None`: the runtime the run is driven from.
    handle: Option<Handle>,
}

impl Lane {
    /// Spawns `fut` on this lane's runtime.
    pub(crate) fn spawn<F>(&self, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match &self.handle {
            Some(h) => h.spawn(fut),
            None => tokio::spawn(fut),
        }
    }

    /// Spawns `fut` on this lane's runtime into `set`.
    pub(crate) fn spawn_into<T: Send + 'static>(
        &self,
        set: &mut JoinSet<T>,
        fut: impl Future<Output = T> + Send + 'static,
    ) -> AbortHandle {
        match &self.handle {
            Some(h) => set.spawn_on(fut, h),
            None => set.spawn(fut),
        }
    }
}

/// The runtime threads of a run; the extra ones stop when this is dropped.
pub struct Lanes {
    lanes: Vec<Lane>,
    stop: CancellationToken,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Lanes {
    /// The calling runtime only.
    pub fn single(driver: Arc<StreamDriver>) -> Self {
        Self {
            lanes: vec![Lane {
                index: 0,
                driver,
                handle: None,
            }],
            stop: CancellationToken::new(),
            threads: Vec::new(),
        }
    }

    /// The calling runtime and `threads - 1` more, each with a driver like
    /// `driver` but its own connections.
    pub fn new(driver: Arc<StreamDriver>, threads: u32) -> Result<Self, LaneError> {
        if threads == 0 || threads > MAX_THREADS {
            return Err(LaneError::Count(threads));
        }
        let mut lanes = Self::single(driver.clone());
        for lane in 1..threads {
            let own = driver
                .with_own_connections()
                .map_err(|source| LaneError::Driver { lane, source })?;
            let (handle, thread) = start_runtime_thread(lane, lanes.stop.clone())?;
            lanes.threads.push(thread);
            lanes.lanes.push(Lane {
                index: lane as usize,
                driver: Arc::new(own),
                handle: Some(handle),
            });
        }
        Ok(lanes)
    }

    /// Number of runtime threads.
    pub fn count(&self) -> u32 {
        u32::try_from(self.lanes.len()).unwrap_or(u32::MAX)
    }

    /// The lane of worker (or request) `n`.
    pub(crate) fn pick(&self, n: u64) -> &Lane {
        &self.lanes[usize::try_from(n % self.lanes.len() as u64).unwrap_or(0)]
    }

    pub(crate) fn all(&self) -> &[Lane] {
        &self.lanes
    }
}

impl Drop for Lanes {
    fn drop(&mut self) {
        self.stop.cancel();
        for t in self.threads.drain(..) {
            // The thread returns as soon as its runtime sees the stop; a
            // panic in it has already been reported by the panic hook.
            let _ = t.join();
        }
    }
}

/// Starts a thread running a single-threaded runtime until `stop`.
fn start_runtime_thread(
    lane: u32,
    stop: CancellationToken,
) -> Result<(Handle, std::thread::JoinHandle<()>), LaneError> {
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name(format!("stackbench-lane-{lane}"))
        .spawn(move || {
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => {
                    let _ = tx.send(Ok(rt.handle().clone()));
                    rt.block_on(stop.cancelled());
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            }
        })
        .map_err(|source| LaneError::Thread { lane, source })?;
    let handle = rx
        .recv()
        .map_err(|_| LaneError::Thread {
            lane,
            source: std::io::Error::other("the thread ended before its runtime started"),
        })?
        .map_err(|source| LaneError::Thread { lane, source })?;
    Ok((handle, thread))
}
