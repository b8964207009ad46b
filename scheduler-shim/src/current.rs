//! Which goroutine the calling thread runs, and whether it holds a P (Go's `getg()` and
//! `getg().m.p != 0`), kept in a thread-local so that calls that would block a P forever can
//! refuse with a clear message instead of hanging.
//!
//! Invariant: the thread-local of a thread names scheduler `s` and goroutine `id` exactly while
//! that thread runs goroutine `id` of `s` (from [`GCtx::start`](crate::GCtx) to its `Drop`), and
//! says `holds_p` exactly while that goroutine holds a P (status `Running` or `Parked`). Only the
//! goroutine's own thread writes it; nothing reads it on the allocation fast path. The scheduler
//! is alive whenever it is named here, since the goroutine's `GCtx` owns an `Arc` of it.

use core::cell::Cell;

/// What the thread-local holds for a goroutine thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Current {
    /// The address of the goroutine's `Sched` (an identity, never dereferenced).
    pub(crate) sched: usize,
    /// The goroutine's id.
    pub(crate) id: u64,
    /// It holds a P.
    pub(crate) holds_p: bool,
}

crate::sync::thread_local! {
    // Not `const`: loom's `thread_local!` does not take a const initialiser.
    #[allow(clippy::missing_const_for_thread_local)]
    static CURRENT: Cell<Option<Current>> = Cell::new(None);
}

/// The calling thread's goroutine, if it is one.
pub(crate) fn get() -> Option<Current> {
    CURRENT.with(Cell::get)
}

/// Set (or with `None` clear) the calling thread's goroutine.
pub(crate) fn set(c: Option<Current>) {
    CURRENT.with(|cur| cur.set(c));
}

/// The id of the goroutine the calling thread runs, if it is a goroutine of any scheduler and
/// holds a P: such a thread must not block on anything a stop-the-world could hold up (it would
/// delay, or deadlock, every stop of its scheduler). Cheap: one thread-local read.
pub fn holding_p() -> Option<u64> {
    get().filter(|c| c.holds_p).map(|c| c.id)
}
