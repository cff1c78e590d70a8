//! The locks every hand-off of the host's data goes through.

use std::cell::UnsafeCell;

use crate::logger::Held;

/// A mutex on the platform's pthread mutex. Every hand-off of the host's
/// data between threads goes through one, so that a C host's race detector
/// (helgrind, DRD), which models pthreads but not the futex under std's
/// `Mutex`, sees the ordering that makes it safe.
pub(crate) struct HostMutex<T> {
    raw: Box<UnsafeCell<libc::pthread_mutex_t>>,
    value: UnsafeCell<T>,
}

// SAFETY: `value` is reached only through a guard, which holds the mutex.
unsafe impl<T: Send> Send for HostMutex<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for HostMutex<T> {}

impl<T> HostMutex<T> {
    pub(crate) fn new(value: T) -> Self {
        // Boxed: a pthread mutex must not move once initialised.
        let raw = Box::new(UnsafeCell::new(libc::PTHREAD_MUTEX_INITIALIZER));
        // SAFETY: a fresh mutex with default attributes. Initialised by call,
        // not only statically, so that DRD knows it even if never locked.
        unsafe { libc::pthread_mutex_init(raw.get(), std::ptr::null()) };
        HostMutex {
            raw,
            value: UnsafeCell::new(value),
        }
    }

    pub(crate) fn lock(&self) -> HostGuard<'_, T> {
        let held = Held::new();
        // SAFETY: an initialised mutex that lives as long as `self`; a
        // default (non-recursive) mutex fails only on misuse we never do.
        unsafe { libc::pthread_mutex_lock(self.raw.get()) };
        HostGuard {
            m: self,
            _held: held,
        }
    }
}

impl<T> Drop for HostMutex<T> {
    fn drop(&mut self) {
        // SAFETY: no guard outlives the mutex (they borrow it).
        unsafe { libc::pthread_mutex_destroy(self.raw.get()) };
    }
}

pub(crate) struct HostGuard<'a, T> {
    m: &'a HostMutex<T>,
    /// Dropped after `drop` has unlocked: log records go out unlocked.
    _held: Held,
}

impl<T> std::ops::Deref for HostGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the mutex.
        unsafe { &*self.m.value.get() }
    }
}

impl<T> std::ops::DerefMut for HostGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the mutex, and `&mut self` is unique.
        unsafe { &mut *self.m.value.get() }
    }
}

impl<T> Drop for HostGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: locked by this guard (also when unwinding from a panic,
        // which `guard` reports; the state stays usable).
        unsafe { libc::pthread_mutex_unlock(self.m.raw.get()) };
    }
}
