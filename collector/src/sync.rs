//! The collector's one door to atomics and locks.
//!
//! It re-exports the allocator's `sync` module (std atomics and `parking_lot` normally, loom's
//! doubles under `cfg(loom)`), so the whole workspace switches together and the workspace
//! `clippy.toml` can forbid the std atomic types everywhere else. The one addition is
//! [`load_word`], the scanner's read of a pointer slot in heap memory.

pub use gomem_allocator::sync::*;

/// Load the word at `addr`: a pointer slot of a heap object the marker is scanning.
///
/// Mutators store pointers concurrently with the scan (with the write barrier on), so the read
/// is an atomic load, never a plain one. Under `cfg(loom)` it is a plain read: loom cannot track
/// raw heap words, and no loom model scans heap objects.
///
/// # Safety
/// - `addr` is 8-byte aligned and lies inside mapped memory that is only ever accessed as whole
///   words (a pointer slot of an `InUse` span's object).
#[inline(always)]
pub unsafe fn load_word(addr: usize) -> usize {
    #[cfg(not(loom))]
    {
        // SAFETY: the caller guarantees an aligned, mapped word; `AtomicUsize` is a transparent
        // wrapper over std's, which has the size and alignment of `usize`.
        let cell = unsafe { &*(addr as *const AtomicUsize) };
        // ORDERING: Acquire; pairs with the Release store of the runtime's pointer write
        // (`write_pointer` in runtime/src/barrier.rs), so the allocation of the object the word
        // points to (its zeroing, its header or heap bits) happens-before we scan that object.
        cell.load(Ordering::Acquire)
    }
    #[cfg(loom)]
    {
        // SAFETY: the caller guarantees an aligned, mapped word.
        unsafe { core::ptr::read(addr as *const usize) }
    }
}
