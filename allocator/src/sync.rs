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
#[allow(clippy::disallowed_types)]
pub use std::sync::atomic::{
    fence, AtomicBool, AtomicPtr, AtomicU16, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
};
#[cfg(not(loom))]
#[allow(clippy::disallowed_types)]
pub use std::sync::{Arc, Mutex, MutexGuard};
#[cfg(not(loom))]
pub use std::thread;

/// Lock a mutex, treating poisoning as impossible.
///
/// The allocator never panics while holding one of its locks except on an internal invariant
/// failure, after which the heap is not trusted anyway; so poisoning is folded into the guard.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
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
