//! Locks that never drop data. A `Mutex` is poisoned when a thread panics
//! while holding it; the data inside is still what was recorded (every
//! update here is a single record or add). Skipping a poisoned lock, as
//! `if let Ok(..) = m.lock()` does, would silently drop every later sample
//! of the run. The panic itself is reported where the task is joined: the
//! engine's loops turn a worker's `JoinError` into a warning of the run
//! (`run.json` `warnings`) naming the request it lost.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `m`, recovering the guard of a poisoned mutex.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_lock_keeps_its_data_and_takes_more() {
        let m = std::sync::Arc::new(Mutex::new(vec![1]));
        let m2 = m.clone();
        let _ = std::thread::spawn(move || {
            let mut g = m2.lock().unwrap();
            g.push(2);
            panic!("poison it");
        })
        .join();
        assert!(m.is_poisoned());
        lock(&m).push(3);
        assert_eq!(*lock(&m), [1, 2, 3]);
    }
}
