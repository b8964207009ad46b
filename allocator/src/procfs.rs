//! What the OS says about this process's memory (Linux `/proc/self`), to check the heap's own
//! counters against: resident bytes of the whole process and of given address ranges.
//!
//! The scavenger's effect is only real if the kernel agrees: `heap_released` going up means
//! nothing unless the pages stop being resident. Tests and the `burst` workload read these
//! instead of trusting the heap's ledger.
//!
//! - [`process_rss`]: `/proc/self/statm`'s resident field (what `ps` and `top` show), one small
//!   read, cheap enough to sample every few milliseconds.
//! - [`smaps_rollup`]: `/proc/self/smaps_rollup`, the same total with its anonymous part and
//!   `LazyFree` (pages released with `MADV_FREE` that the kernel has not reclaimed yet).
//! - [`resident_in`]: `/proc/self/pagemap`, page by page over some address ranges, e.g.
//!   [`MHeap::reservations`](crate::mheap::MHeap::reservations): the heap's own resident bytes,
//!   untouched by other heaps, thread stacks or the test harness.
//!
//! Every function returns an [`std::io::Error`] on a system without these files.

use crate::os::OS_PAGE_SIZE;
use std::io;

/// Resident bytes of this process (`/proc/self/statm`, second field × page size).
pub fn process_rss() -> io::Result<u64> {
    let s = std::fs::read_to_string("/proc/self/statm")?;
    let pages: u64 =
        s.split_whitespace().nth(1).and_then(|f| f.parse().ok()).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidData, "malformed /proc/self/statm")
        })?;
    Ok(pages * OS_PAGE_SIZE as u64)
}

/// The fields of `/proc/self/smaps_rollup` gomem cares about, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rollup {
    /// `Rss`: resident bytes of the whole process.
    pub rss: u64,
    /// `Anonymous`: resident anonymous bytes (the heap, metadata, stacks, malloc).
    pub anonymous: u64,
    /// `LazyFree`: bytes released with `MADV_FREE` and not yet reclaimed by the kernel.
    pub lazy_free: u64,
}

/// `/proc/self/smaps_rollup`.
pub fn smaps_rollup() -> io::Result<Rollup> {
    let s = std::fs::read_to_string("/proc/self/smaps_rollup")?;
    let mut r = Rollup::default();
    for line in s.lines() {
        if let Some((key, kib)) = field_kib(line) {
            match key {
                "Rss" => r.rss = kib * 1024,
                "Anonymous" => r.anonymous = kib * 1024,
                "LazyFree" => r.lazy_free = kib * 1024,
                _ => {}
            }
        }
    }
    Ok(r)
}

/// Resident bytes of the pages in `ranges` (`(base, len)` pairs, page-aligned), from
/// `/proc/self/pagemap`: one 64-bit entry per OS page, bit 63 set when the page is present in
/// memory. Exact per page, whatever the kernel did to the mappings around the ranges.
pub fn resident_in(ranges: &[(usize, usize)]) -> io::Result<u64> {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::open("/proc/self/pagemap")?;
    let mut present = 0u64;
    let mut buf = vec![0u8; 8 * 4096];
    for &(base, len) in ranges {
        let (first, npages) = (base / OS_PAGE_SIZE, len.div_ceil(OS_PAGE_SIZE));
        let mut done = 0;
        while done < npages {
            let n = (npages - done).min(buf.len() / 8);
            let bytes = &mut buf[..8 * n];
            f.read_exact_at(bytes, 8 * (first + done) as u64)?;
            for e in bytes.chunks_exact(8) {
                let e = u64::from_ne_bytes(e.try_into().expect("8 bytes"));
                present += e >> 63;
            }
            done += n;
        }
    }
    Ok(present * OS_PAGE_SIZE as u64)
}

/// `Key:   123 kB` → `("Key", 123)`.
fn field_kib(line: &str) -> Option<(&str, u64)> {
    let (key, rest) = line.split_once(':')?;
    let mut it = rest.split_whitespace();
    let n = it.next()?.parse().ok()?;
    (it.next() == Some("kB")).then_some((key, n))
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn parses_smaps_lines() {
        assert_eq!(field_kib("Rss:                1234 kB"), Some(("Rss", 1234)));
        assert_eq!(field_kib("VmFlags: rd wr mr mw me ac"), None);
        assert_eq!(field_kib("7f0c2a000000-7f0c2e000000 rw-p 00000000 00:00 0"), None);
    }

    #[test]
    fn touched_pages_are_resident_and_released_ones_are_not() {
        let os = crate::os::Os::default();
        let len = 16 << 20;
        let a = os.reserve(len, 1 << 21, None).unwrap();
        // SAFETY: the reservation just made.
        unsafe { os.map(a, len) }.unwrap();
        assert_eq!(resident_in(&[(a, len)]).unwrap(), 0);
        // SAFETY: the range was just mapped read-write and is ours alone.
        unsafe { core::ptr::write_bytes(a as *mut u8, 1, len) };
        assert_eq!(resident_in(&[(a, len)]).unwrap(), len as u64);
        assert_eq!(resident_in(&[(a + 4096, 8192)]).unwrap(), 8192);
        assert!(process_rss().unwrap() >= len as u64);
        assert!(smaps_rollup().unwrap().rss >= len as u64);
        // SAFETY: our reservation; its contents are not read again.
        unsafe { os.release(a, len / 2) }.unwrap();
        assert_eq!(resident_in(&[(a, len)]).unwrap(), len as u64 / 2);
        // SAFETY: ours, unused from here on.
        unsafe { os.unmap(a, len) };
    }
}
