//! The operating-system layer (Go's `mem.go` / `mem_linux.go`): the only code that calls
//! `mmap`, `mprotect`, `madvise` and `munmap`.
//!
//! Address space moves through Go's four states:
//!
//! | state    | meaning                                  | how it gets there                  |
//! |----------|------------------------------------------|------------------------------------|
//! | None     | not ours                                 | [`Os::unmap`]                      |
//! | Reserved | ours, inaccessible, costs no memory      | [`Os::reserve`] (`PROT_NONE`)      |
//! | Prepared | accessible, may or may not be backed     | [`Os::map`], [`Os::release`]       |
//! | Ready    | in use                                   | touching Prepared memory (Linux)   |
//!
//! On Linux, Prepared → Ready needs no call: the first touch faults a zero page in. Ready →
//! Prepared is `madvise(MADV_DONTNEED)` (the default: the pages read as zero afterwards) or
//! `MADV_FREE` (`GODEBUG=madvdontneed=0`: cheaper, but the contents are not guaranteed zero, so
//! the heap must not trust such pages to be zeroed).
//!
//! Every failure is an [`OsError`] the caller can report; nothing here panics. Tests make the
//! next N calls fail with [`Os::inject_failures`], or every Nth call fail until told to stop
//! with [`Os::inject_failures_every`], to check that the heap reports the error and stays
//! usable (see "Out of memory" in docs/allocator.md).
//!
//! Invariants this module relies on (and states in each `SAFETY:` comment):
//! - the addresses passed to `map`, `release` and `unmap` lie inside a reservation made by
//!   `reserve` on the same [`Os`] and not yet unmapped, and are page-aligned;
//! - nothing else in the process maps or unmaps inside our reservations.

use crate::sync::{AtomicU32, Ordering};
use core::fmt;

/// The OS page size gomem assumes for alignment (4 KiB on x86-64/arm64 Linux). Checked against
/// `sysconf(_SC_PAGESIZE)` in tests.
pub const OS_PAGE_SIZE: usize = 4096;

/// A failed OS memory operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OsError {
    /// What was being done: "reserve", "map", "release" or "unmap".
    pub op: &'static str,
    /// Bytes requested.
    pub len: usize,
    /// The `errno` value, or 0 for an injected failure.
    pub errno: i32,
}

impl fmt::Display for OsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.errno == 0 {
            write!(f, "{} of {} bytes failed (injected failure)", self.op, self.len)
        } else {
            let msg = std::io::Error::from_raw_os_error(self.errno);
            write!(f, "{} of {} bytes failed: {}", self.op, self.len, msg)
        }
    }
}

impl std::error::Error for OsError {}

/// Which `madvise` advice releases memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ReleaseMode {
    /// `MADV_DONTNEED`: released pages read as zero afterwards (Go's default, `madvdontneed=1`).
    #[default]
    DontNeed,
    /// `MADV_FREE`: cheaper, the kernel reclaims lazily, contents are not guaranteed
    /// (`madvdontneed=0`).
    Free,
}

/// A handle on the OS memory calls of one heap, carrying its failure-injection counter and
/// release mode.
#[derive(Debug)]
pub struct Os {
    inject: AtomicU32,
    /// With `n > 0`, every `n`th reserve/map call fails ([`Os::inject_failures_every`]).
    inject_every: AtomicU32,
    /// Reserve/map calls counted while `inject_every` is set.
    calls: AtomicU32,
    /// Injected failures so far (both modes).
    injected: AtomicU32,
    release_mode: ReleaseMode,
}

impl Default for Os {
    fn default() -> Self {
        Self::new(ReleaseMode::DontNeed)
    }
}

impl Os {
    /// A handle that releases memory with `mode`.
    pub fn new(release_mode: ReleaseMode) -> Self {
        Os {
            inject: AtomicU32::new(0),
            inject_every: AtomicU32::new(0),
            calls: AtomicU32::new(0),
            injected: AtomicU32::new(0),
            release_mode,
        }
    }

    /// Make the next `n` reserve/map calls fail with an injected error. `0` also stops the
    /// periodic mode of [`Os::inject_failures_every`].
    pub fn inject_failures(&self, n: u32) {
        self.inject_every.store(0, Ordering::Relaxed);
        self.inject.store(n, Ordering::Relaxed);
    }

    /// Make every `n`th reserve/map call fail with an injected error from now on, until
    /// `inject_failures_every(0)` or `inject_failures(0)`: repeated out-of-memory for tests
    /// that keep running while the heap cannot grow. `n == 1` fails every call.
    pub fn inject_failures_every(&self, n: u32) {
        self.calls.store(0, Ordering::Relaxed);
        self.inject_every.store(n, Ordering::Relaxed);
    }

    /// How many reserve/map calls have failed by injection since this `Os` was made.
    pub fn injected_failures(&self) -> u32 {
        self.injected.load(Ordering::Relaxed)
    }

    /// The release mode.
    pub fn release_mode(&self) -> ReleaseMode {
        self.release_mode
    }

    /// Whether released pages are guaranteed to read as zero.
    pub fn released_pages_are_zero(&self) -> bool {
        self.release_mode == ReleaseMode::DontNeed
    }

    /// Consult the failure injection without calling the OS: one call in the counting of
    /// [`Os::inject_failures`] and [`Os::inject_failures_every`], `Err` if it is to fail.
    ///
    /// For memory gomem takes from the Rust allocator where Go takes it from the OS (the
    /// collector's work buffers, root list and checkmark set): their failure paths are tested
    /// by the same injection as the heap's, though a real failure there comes from the Rust
    /// allocator.
    pub fn injected_failure(&self, op: &'static str, len: usize) -> Result<(), OsError> {
        self.injected(op, len)
    }

    fn injected(&self, op: &'static str, len: usize) -> Result<(), OsError> {
        // Relaxed (all the counters here): test hooks with no memory they guard.
        let every = self.inject_every.load(Ordering::Relaxed);
        if every > 0 && (self.calls.fetch_add(1, Ordering::Relaxed) + 1) % every == 0 {
            self.injected.fetch_add(1, Ordering::Relaxed);
            return Err(OsError { op, len, errno: 0 });
        }
        let mut cur = self.inject.load(Ordering::Relaxed);
        while cur > 0 {
            match self.inject.compare_exchange_weak(
                cur,
                cur - 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    self.injected.fetch_add(1, Ordering::Relaxed);
                    return Err(OsError { op, len, errno: 0 });
                }
                Err(v) => cur = v,
            }
        }
        Ok(())
    }

    /// Reserve `len` bytes of address space aligned to `align` (a power of two, at least the OS
    /// page), inaccessible and uncommitted (None → Reserved). With `hint`, the kernel is asked
    /// for exactly that address first; if it is taken, any aligned address is used.
    pub fn reserve(&self, len: usize, align: usize, hint: Option<usize>) -> Result<usize, OsError> {
        debug_assert!(align.is_power_of_two() && align >= OS_PAGE_SIZE);
        debug_assert!(len % OS_PAGE_SIZE == 0 && len > 0);
        self.injected("reserve", len)?;
        if let Some(h) = hint {
            if h % align == 0 {
                if let Some(addr) = mmap_none(h, len, true) {
                    return Ok(addr);
                }
            }
        }
        // Over-reserve by `align` and trim both ends so the kept range is aligned.
        let total =
            len.checked_add(align).ok_or(OsError { op: "reserve", len, errno: libc::ENOMEM })?;
        let raw = mmap_none(0, total, false).ok_or_else(|| OsError {
            op: "reserve",
            len,
            errno: errno(),
        })?;
        let start = (raw + align - 1) & !(align - 1);
        if start > raw {
            // SAFETY: [raw, start) is the head of the mapping just made and is ours alone.
            unsafe { libc::munmap(raw as *mut libc::c_void, start - raw) };
        }
        let end = start + len;
        if raw + total > end {
            // SAFETY: [end, raw+total) is the tail of the mapping just made and is ours alone.
            unsafe { libc::munmap(end as *mut libc::c_void, raw + total - end) };
        }
        Ok(start)
    }

    /// Make `[addr, addr+len)` of a reservation readable and writable (Reserved → Prepared).
    /// Fresh pages read as zero.
    ///
    /// # Safety
    /// - `[addr, addr+len)` lies in a reservation made by this `Os`. Elsewhere `mprotect`
    ///   could make memory writable that Rust relies on being inaccessible (a thread's stack
    ///   guard page, which turns a stack overflow into a clean abort).
    pub unsafe fn map(&self, addr: usize, len: usize) -> Result<(), OsError> {
        self.injected("map", len)?;
        // SAFETY: the caller guarantees the range lies in one of our reservations, so changing
        // its protection touches no memory anyone else owns.
        let r = unsafe {
            libc::mprotect(addr as *mut libc::c_void, len, libc::PROT_READ | libc::PROT_WRITE)
        };
        if r != 0 {
            return Err(OsError { op: "map", len, errno: errno() });
        }
        Ok(())
    }

    /// Give the physical pages behind `[addr, addr+len)` back to the OS (Ready → Prepared),
    /// keeping the range mapped. With [`ReleaseMode::DontNeed`] it reads as zero afterwards.
    ///
    /// # Safety
    /// - `[addr, addr+len)` lies in a reservation made by this `Os` and holds no live data:
    ///   the kernel discards its contents (zero or, with `MADV_FREE`, zero at some later
    ///   moment), which for any other memory is a write that Rust does not see.
    pub unsafe fn release(&self, addr: usize, len: usize) -> Result<(), OsError> {
        let advice = match self.release_mode {
            ReleaseMode::DontNeed => libc::MADV_DONTNEED,
            ReleaseMode::Free => libc::MADV_FREE,
        };
        // SAFETY: the caller guarantees the range lies in one of our mapped reservations and
        // holds no live objects, so discarding its contents is allowed.
        let r = unsafe { libc::madvise(addr as *mut libc::c_void, len, advice) };
        if r != 0 {
            return Err(OsError { op: "release", len, errno: errno() });
        }
        Ok(())
    }

    /// Return `[addr, addr+len)` to the OS entirely (→ None).
    ///
    /// # Safety
    /// - The range was reserved by this `Os` and nothing will touch it again.
    pub unsafe fn unmap(&self, addr: usize, len: usize) {
        // SAFETY: the caller promises the range is ours and dead.
        unsafe { libc::munmap(addr as *mut libc::c_void, len) };
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::ENOMEM)
}

/// `mmap` an inaccessible, unreserved (no swap accounting) private anonymous range. With
/// `exact`, the kernel must honour `addr` or the call fails (and nothing is left mapped).
fn mmap_none(addr: usize, len: usize, exact: bool) -> Option<usize> {
    let mut flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;
    if exact {
        flags |= libc::MAP_FIXED_NOREPLACE;
    }
    // SAFETY: an anonymous PROT_NONE mapping without MAP_FIXED cannot clobber existing mappings
    // (MAP_FIXED_NOREPLACE fails instead of replacing).
    let p = unsafe { libc::mmap(addr as *mut libc::c_void, len, libc::PROT_NONE, flags, -1, 0) };
    if p == libc::MAP_FAILED {
        return None;
    }
    let got = p as usize;
    if exact && got != addr {
        // Old kernels ignore MAP_FIXED_NOREPLACE and treat it as a hint.
        // SAFETY: we just made this mapping and nobody has seen it.
        unsafe { libc::munmap(p, len) };
        return None;
    }
    Some(got)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn os_page_size_matches() {
        // SAFETY: sysconf has no preconditions.
        let ps = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
        assert_eq!(ps, OS_PAGE_SIZE);
    }

    #[test]
    fn reserve_map_release_cycle() {
        let os = Os::default();
        let a = os.reserve(1 << 26, 1 << 26, None).unwrap();
        assert_eq!(a % (1 << 26), 0);
        // SAFETY: inside the reservation just made.
        unsafe { os.map(a, 1 << 16) }.unwrap();
        // SAFETY: the first 64 KiB were just mapped read-write.
        unsafe {
            *(a as *mut u64) = 7;
            assert_eq!(*(a as *const u64), 7);
        }
        // SAFETY: our reservation; nothing lives in it.
        unsafe { os.release(a, 1 << 16) }.unwrap();
        // SAFETY: still mapped; MADV_DONTNEED makes it read as zero.
        unsafe { assert_eq!(*(a as *const u64), 0) };
        // SAFETY: the reservation is ours and unused from here on.
        unsafe { os.unmap(a, 1 << 26) };
    }

    #[test]
    fn hint_is_honoured_when_free() {
        let os = Os::default();
        let a = os.reserve(1 << 26, 1 << 26, None).unwrap();
        // SAFETY: ours, unused.
        unsafe { os.unmap(a, 1 << 26) };
        let b = os.reserve(1 << 26, 1 << 26, Some(a)).unwrap();
        assert_eq!(a, b);
        // A taken hint falls back to another aligned address.
        let c = os.reserve(1 << 26, 1 << 26, Some(a)).unwrap();
        assert_ne!(c, a);
        assert_eq!(c % (1 << 26), 0);
        // SAFETY: ours, unused.
        unsafe {
            os.unmap(b, 1 << 26);
            os.unmap(c, 1 << 26);
        }
    }

    #[test]
    fn injected_failure_is_an_error_then_clears() {
        let os = Os::default();
        os.inject_failures(1);
        let e = os.reserve(1 << 20, 1 << 20, None).unwrap_err();
        assert_eq!(e.errno, 0);
        assert!(e.to_string().contains("injected"));
        let a = os.reserve(1 << 20, 1 << 20, None).unwrap();
        // SAFETY: ours, unused.
        unsafe { os.unmap(a, 1 << 20) };
    }

    #[test]
    fn periodic_injection_fails_every_nth_call_until_stopped() {
        let os = Os::default();
        os.inject_failures_every(3);
        let mut failed = Vec::new();
        let mut kept = Vec::new();
        for _ in 0..9 {
            match os.reserve(1 << 20, 1 << 20, None) {
                Ok(a) => kept.push(a),
                Err(e) => {
                    assert_eq!(e.errno, 0);
                    failed.push(kept.len() + failed.len());
                }
            }
        }
        assert_eq!(failed, vec![2, 5, 8]);
        assert_eq!(os.injected_failures(), 3);
        os.inject_failures_every(0);
        kept.push(os.reserve(1 << 20, 1 << 20, None).unwrap());
        for a in kept {
            // SAFETY: ours, unused.
            unsafe { os.unmap(a, 1 << 20) };
        }
    }

    #[test]
    fn absurd_reservation_is_an_error() {
        let os = Os::default();
        let e = os.reserve(1 << 62, 1 << 26, None).unwrap_err();
        assert_eq!(e.op, "reserve");
        assert_ne!(e.errno, 0);
    }
}
