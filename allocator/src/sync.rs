//! The allocator's one door to atomics, locks and shared cells.
//!
//! Every atomic type, lock and `UnsafeCell` used for cross-thread state comes from this module.
//! Under `cfg(loom)` it re-exports loom's model-checked doubles instead of the standard ones, so
//! the loom models in `tests/loom_*.rs` explore every interleaving of the real code, not of a copy
//! (the pattern crossbeam calls `primitive` and sharded-slab calls `sync`). The workspace
//! `clippy.toml` forbids naming `std::sync::atomic` types anywhere else.
//!
//! `UnsafeCell` follows loom's closure API (`with`, `with_mut`) in both builds, so code that
//! touches a cell reads the same either way.

#[cfg(loom)]
pub use loom::sync::atomic::{
    fence, AtomicBool, AtomicPtr, AtomicU16, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
};
#[cfg(loom)]
pub use loom::sync::{Arc, Mutex, MutexGuard};
#[cfg(loom)]
pub use loom::thread;

#[cfg(not(loom))]
pub use std::sync::atomic::{fence, Ordering};
#[cfg(not(loom))]
pub use std::sync::Arc;
#[cfg(not(loom))]
pub use std::thread;

/// Wrap a std atomic in a transparent newtype. The workspace's `clippy.toml` forbids the std
/// atomic types by name; the wrappers are the one sanctioned door to them (zero-cost: same
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

        #[allow(clippy::disallowed_types)]
        impl core::ops::DerefMut for $name {
            #[inline(always)]
            fn deref_mut(&mut self) -> &mut Self::Target {
                &mut self.0
            }
        }
    };
}

#[cfg(not(loom))]
atomic_newtype!(/// `AtomicBool` through the loom switch.
    AtomicBool, bool);
#[cfg(not(loom))]
atomic_newtype!(/// `AtomicU8` through the loom switch.
    AtomicU8, u8);
#[cfg(not(loom))]
atomic_newtype!(/// `AtomicU16` through the loom switch.
    AtomicU16, u16);
#[cfg(not(loom))]
atomic_newtype!(/// `AtomicU32` through the loom switch.
    AtomicU32, u32);
#[cfg(not(loom))]
atomic_newtype!(/// `AtomicU64` through the loom switch.
    AtomicU64, u64);
#[cfg(not(loom))]
atomic_newtype!(/// `AtomicUsize` through the loom switch.
    AtomicUsize, usize);

/// `AtomicPtr` through the loom switch (see `atomic_newtype`).
#[cfg(not(loom))]
#[allow(clippy::disallowed_types)]
#[repr(transparent)]
#[derive(Debug, Default)]
pub struct AtomicPtr<T>(std::sync::atomic::AtomicPtr<T>);

#[cfg(not(loom))]
#[allow(clippy::disallowed_types)]
impl<T> AtomicPtr<T> {
    /// A new atomic pointer.
    #[inline(always)]
    pub const fn new(p: *mut T) -> Self {
        Self(std::sync::atomic::AtomicPtr::new(p))
    }
}

#[cfg(not(loom))]
#[allow(clippy::disallowed_types)]
impl<T> core::ops::Deref for AtomicPtr<T> {
    type Target = std::sync::atomic::AtomicPtr<T>;
    #[inline(always)]
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// `Mutex` through the loom switch: `parking_lot`'s mutex in normal builds.
///
/// Not std's: std is shipped precompiled, so under `-Zsanitizer=thread` its lock is invisible
/// to ThreadSanitizer and every critical section looks like a race. `parking_lot` is compiled
/// with the rest of the crate graph, sanitizer included, and is at least as fast.
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
    /// Exclusive access without locking.
    pub fn get_mut(&mut self) -> &mut T {
        self.0.get_mut()
    }
}

/// A condition variable paired with [`Mutex`] (parking_lot's in normal builds, loom's under
/// loom). `wait` takes and returns the guard by value so both builds share one signature.
#[cfg(not(loom))]
#[derive(Debug, Default)]
pub struct Condvar(parking_lot::Condvar);

#[cfg(not(loom))]
impl Condvar {
    /// A new condition variable.
    pub const fn new() -> Self {
        Self(parking_lot::Condvar::new())
    }
    /// Atomically release the lock and wait for a notification.
    pub fn wait<'a, T>(&self, mut g: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        self.0.wait(&mut g);
        g
    }
    /// As [`Condvar::wait`], giving up after `timeout`.
    pub fn wait_timeout<'a, T>(
        &self,
        mut g: MutexGuard<'a, T>,
        timeout: std::time::Duration,
    ) -> MutexGuard<'a, T> {
        let _ = self.0.wait_for(&mut g, timeout);
        g
    }
    /// Wake every waiter.
    pub fn notify_all(&self) {
        self.0.notify_all();
    }
    /// Wake one waiter.
    pub fn notify_one(&self) {
        self.0.notify_one();
    }
}

/// Loom's condition variable behind the same API as the normal build's.
#[cfg(loom)]
#[derive(Debug, Default)]
pub struct Condvar(loom::sync::Condvar);

#[cfg(loom)]
impl Condvar {
    /// A new condition variable.
    pub fn new() -> Self {
        Self(loom::sync::Condvar::new())
    }
    /// Atomically release the lock and wait for a notification.
    pub fn wait<'a, T>(&self, g: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        match self.0.wait(g) {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
    /// Loom has no timeouts: waits for a notification.
    pub fn wait_timeout<'a, T>(
        &self,
        g: MutexGuard<'a, T>,
        _timeout: std::time::Duration,
    ) -> MutexGuard<'a, T> {
        self.wait(g)
    }
    /// Wake every waiter.
    pub fn notify_all(&self) {
        self.0.notify_all();
    }
    /// Wake one waiter.
    pub fn notify_one(&self) {
        self.0.notify_one();
    }
}

/// A reader-writer lock (parking_lot's in normal builds, loom's under loom); `read` and
/// `write` return the guards directly in both builds.
#[cfg(not(loom))]
#[derive(Debug, Default)]
pub struct RwLock<T>(parking_lot::RwLock<T>);

#[cfg(not(loom))]
impl<T> RwLock<T> {
    /// A new lock.
    pub const fn new(v: T) -> Self {
        Self(parking_lot::RwLock::new(v))
    }
    /// Shared access.
    #[inline]
    pub fn read(&self) -> parking_lot::RwLockReadGuard<'_, T> {
        self.0.read()
    }
    /// Exclusive access.
    pub fn write(&self) -> parking_lot::RwLockWriteGuard<'_, T> {
        self.0.write()
    }
}

/// Loom's reader-writer lock behind the normal build's API.
#[cfg(loom)]
#[derive(Debug, Default)]
pub struct RwLock<T>(loom::sync::RwLock<T>);

#[cfg(loom)]
impl<T> RwLock<T> {
    /// A new lock.
    pub fn new(v: T) -> Self {
        Self(loom::sync::RwLock::new(v))
    }
    /// Shared access.
    pub fn read(&self) -> loom::sync::RwLockReadGuard<'_, T> {
        match self.0.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
    /// Exclusive access.
    pub fn write(&self) -> loom::sync::RwLockWriteGuard<'_, T> {
        match self.0.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
}

/// Lock a mutex.
#[cfg(not(loom))]
#[inline]
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.0.lock()
}

/// Lock a mutex (loom build), treating poisoning as impossible: the allocator panics while
/// holding a lock only on an invariant failure, after which the heap is not trusted anyway.
#[cfg(loom)]
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Lock a mutex if it is free right now; `None` when another thread holds it.
#[cfg(not(loom))]
#[inline]
pub fn try_lock<T>(m: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
    m.0.try_lock()
}

/// Lock a mutex if it is free right now (loom build); poisoning is treated as in [`lock`].
#[cfg(loom)]
pub fn try_lock<T>(m: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
    match m.try_lock() {
        Ok(g) => Some(g),
        Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
        Err(std::sync::TryLockError::WouldBlock) => None,
    }
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

#[cfg(loom)]
pub use loom::cell::UnsafeCell;

/// Run the loom model `f` (every loom test of the workspace goes through here): with the
/// preemption bound `bound` unless `LOOM_MAX_PREEMPTIONS` sets one, printing how many
/// executions loom explored, so a run shows how much of the state space a model covers.
#[cfg(loom)]
pub fn model(bound: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(bound);
    }
    #[allow(clippy::disallowed_types)] // a plain counter outside the model, not a modelled atomic
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = runs.clone();
    builder.check(move || {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        f();
    });
    eprintln!("loom: {} executions", runs.load(std::sync::atomic::Ordering::Relaxed));
}
