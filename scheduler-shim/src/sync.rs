//! The scheduler's one door to atomics, locks, condition variables and shared cells.
//!
//! Every atomic, lock and `UnsafeCell` used for cross-thread state comes from this module, and so
//! does `thread::spawn`. Under `cfg(loom)` it re-exports loom's model-checked doubles instead of
//! the standard ones, so the models in `tests/loom_sched.rs` explore the interleavings of the real
//! code (the allocator's `sync` module is the same pattern). The workspace `clippy.toml` forbids
//! naming `std::sync::atomic` types or `std::sync::Mutex` anywhere else.
//!
//! The lock and condition variable are reached through the free functions [`lock`] and [`wait`],
//! so that code reads the same whether the guard is `parking_lot`'s or loom's. `UnsafeCell`
//! follows loom's closure API (`with`, `with_mut`) in both builds.

#[cfg(loom)]
pub use loom::cell::UnsafeCell;
#[cfg(loom)]
pub use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
#[cfg(loom)]
pub use loom::sync::{Condvar, Mutex, MutexGuard};
#[cfg(loom)]
pub use loom::thread;
/// Thread-locals through the loom switch: loom runs a model's threads on one OS thread, so its
/// own thread-locals are the ones that are per model thread.
#[cfg(loom)]
pub use loom::thread_local;

#[cfg(not(loom))]
pub use std::sync::atomic::Ordering;
/// `Arc` is std's in both builds: the public API takes `self: &Arc<Self>`, which only std's
/// `Arc` allows as a receiver. Under loom its reference count is then invisible to the model,
/// which loses only the check that the last drop is ordered after every use (real threads never
/// run a model, and every thread of a model is joined before it ends).
pub use std::sync::Arc;
#[cfg(not(loom))]
pub use std::thread;
/// Thread-locals through the loom switch (std's in normal builds).
#[cfg(not(loom))]
pub use std::thread_local;

/// Wrap a std atomic in a transparent newtype. The workspace's `clippy.toml` forbids the std
/// atomic types by name; these wrappers are the one sanctioned door to them (zero-cost: same
/// layout, every method reached through `Deref`).
#[cfg(not(loom))]
macro_rules! atomic_newtype {
    ($(#[$m:meta])* $name:ident, $v:ty) => {
        $(#[$m])*
        #[allow(clippy::disallowed_types)]
        #[repr(transparent)]
        #[derive(Debug, Default)]
        pub struct $name(std::sync::atomic::$name);

        #[allow(clippy::disallowed_types)]
        impl $name {
            /// A new atomic holding `v`.
            #[inline(always)]
            pub const fn new(v: $v) -> Self {
                Self(std::sync::atomic::$name::new(v))
            }
        }

        #[allow(clippy::disallowed_types)]
        impl core::ops::Deref for $name {
            type Target = std::sync::atomic::$name;
            #[inline(always)]
            fn deref(&self) -> &Self::Target {
                &self.0
            }
        }
    };
}

#[cfg(not(loom))]
atomic_newtype!(/// `AtomicBool` through the loom switch.
    AtomicBool, bool);
#[cfg(not(loom))]
atomic_newtype!(/// `AtomicU32` through the loom switch.
    AtomicU32, u32);
#[cfg(not(loom))]
atomic_newtype!(/// `AtomicU64` through the loom switch.
    AtomicU64, u64);
#[cfg(not(loom))]
atomic_newtype!(/// `AtomicUsize` through the loom switch.
    AtomicUsize, usize);

/// `Mutex` through the loom switch: `parking_lot`'s mutex in normal builds.
///
/// Not std's: std is shipped precompiled, so under `-Zsanitizer=thread` its lock is invisible to
/// ThreadSanitizer; `parking_lot` is compiled with the rest of the crate graph. It has no
/// poisoning: the scheduler never runs caller code while holding its lock, so a panic cannot leave
/// the protected state half-updated.
#[cfg(not(loom))]
#[derive(Debug, Default)]
pub struct Mutex<T>(parking_lot::Mutex<T>);

/// The guard of [`Mutex`].
#[cfg(not(loom))]
pub type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;

#[cfg(not(loom))]
impl<T> Mutex<T> {
    /// A new mutex.
    pub const fn new(v: T) -> Self {
        Self(parking_lot::Mutex::new(v))
    }
}

/// `Condvar` through the loom switch: `parking_lot`'s condition variable in normal builds
/// (it pairs with `parking_lot`'s mutex; std's would not).
#[cfg(not(loom))]
#[derive(Debug, Default)]
pub struct Condvar(parking_lot::Condvar);

#[cfg(not(loom))]
impl Condvar {
    /// A new condition variable.
    pub const fn new() -> Self {
        Self(parking_lot::Condvar::new())
    }
    /// Wake every thread waiting on this condition variable.
    #[inline]
    pub fn notify_all(&self) {
        self.0.notify_all();
    }
}

/// Lock a mutex.
#[cfg(not(loom))]
#[inline]
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.0.lock()
}

/// Lock a mutex (loom build). Poisoning is treated as impossible: the scheduler never runs caller
/// code with its lock held.
#[cfg(loom)]
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Release `guard`'s lock, sleep until `cv` is notified (or spuriously), and lock again.
#[cfg(not(loom))]
#[inline]
pub fn wait<'a, T>(cv: &Condvar, mut guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    cv.0.wait(&mut guard);
    guard
}

/// As [`wait`], but also wake once `timeout` has passed; true if it timed out.
#[cfg(not(loom))]
#[inline]
pub fn wait_timeout<'a, T>(
    cv: &Condvar,
    mut guard: MutexGuard<'a, T>,
    timeout: core::time::Duration,
) -> (MutexGuard<'a, T>, bool) {
    let r = cv.0.wait_for(&mut guard, timeout);
    (guard, r.timed_out())
}

/// Release `guard`'s lock, sleep until `cv` is notified (or spuriously), and lock again (loom
/// build).
#[cfg(loom)]
pub fn wait<'a, T>(cv: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    cv.wait(guard).unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A cell for state whose exclusive access is guaranteed by a protocol rather than a lock.
///
/// In normal builds this is `core::cell::UnsafeCell` behind loom's closure API; under loom it is
/// loom's tracked cell, which reports an unsynchronised concurrent access as a model failure.
#[cfg(not(loom))]
#[derive(Debug, Default)]
pub struct UnsafeCell<T>(core::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    /// Wrap a value.
    pub const fn new(v: T) -> Self {
        Self(core::cell::UnsafeCell::new(v))
    }
    /// Run `f` with a shared raw pointer to the contents.
    #[inline(always)]
    pub fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }
    /// Run `f` with an exclusive raw pointer to the contents.
    #[inline(always)]
    pub fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}
