//! Clearing memory that holds no live pointers (Go's `memclrNoHeapPointers`, `memclr_amd64.s`).
//!
//! The allocator clears whole runs of free slots when a P caches a reused span, typically a
//! whole 8 KiB page or more, into memory last written a GC cycle ago (in L2 or L3, not L1).
//! For that shape glibc's `memset` takes `rep stosb` (as Go's assembly does from 2 KiB up),
//! which on the AMD EPYC machine of `docs/performance-log.md` clears 8 KiB blocks of an
//! L3-resident 3 MiB buffer at 38–49 GB/s; a loop of aligned 32-byte AVX2 stores clears the
//! same blocks at 44–68 GB/s (a C microbenchmark, alternated three times; SSE2 16-byte stores
//! were no better than `memset`). So runs of 256 bytes or more are cleared by that loop when
//! the CPU has AVX2, and everything else by `core::ptr::write_bytes` (`memset`).
//!
//! Invariant relied on by the `unsafe` code here: the caller passes a range it may write
//! (`[p, p + n)` inside one live allocation it owns), and [`avx2`] is entered only after
//! run-time detection saw AVX2.

/// Runs shorter than this go to `memset`: below it the alignment head and tail dominate.
#[cfg(all(target_arch = "x86_64", not(loom)))]
const VECTOR_MIN: usize = 256;

/// Zero `n` bytes at `p`.
///
/// # Safety
/// `[p, p + n)` is writable memory owned by the caller (no other thread reads or writes it
/// meanwhile).
#[inline]
pub(crate) unsafe fn memclr(p: *mut u8, n: usize) {
    #[cfg(all(target_arch = "x86_64", not(loom)))]
    if n >= VECTOR_MIN && std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 was detected just above; the range is the caller's (this function's
        // contract).
        unsafe { avx2(p, n) };
        return;
    }
    // SAFETY: the caller's contract.
    unsafe { core::ptr::write_bytes(p, 0, n) };
}

/// The AVX2 loop: one unaligned store for the head, aligned 128-byte strides, and unaligned
/// stores ending exactly at `p + n` for the tail. Needs `n >= 32`.
///
/// # Safety
/// The CPU supports AVX2, `n >= 32`, and `[p, p + n)` is writable memory owned by the caller.
#[cfg(all(target_arch = "x86_64", not(loom)))]
#[target_feature(enable = "avx2")]
unsafe fn avx2(p: *mut u8, n: usize) {
    use core::arch::x86_64::_mm256_storeu_si256;
    use core::arch::x86_64::{__m256i, _mm256_setzero_si256, _mm256_store_si256};
    debug_assert!(n >= 32);
    let z = _mm256_setzero_si256();
    let end = p as usize + n;
    // SAFETY: every store below writes 32 bytes inside `[p, end)`, which the caller owns
    // (`n >= 32`); the aligned stores use addresses rounded to 32 bytes within that range.
    unsafe {
        _mm256_storeu_si256(p as *mut __m256i, z);
        let mut a = (p as usize + 32) & !31;
        while a + 128 <= end {
            _mm256_store_si256(a as *mut __m256i, z);
            _mm256_store_si256((a + 32) as *mut __m256i, z);
            _mm256_store_si256((a + 64) as *mut __m256i, z);
            _mm256_store_si256((a + 96) as *mut __m256i, z);
            a += 128;
        }
        while a + 32 <= end {
            _mm256_store_si256(a as *mut __m256i, z);
            a += 32;
        }
        if a < end {
            _mm256_storeu_si256((end - 32) as *mut __m256i, z);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::memclr;

    /// Every length from 0 to 700 at every offset in a 64-byte line: exactly the range is
    /// cleared, the bytes on either side are untouched.
    #[test]
    fn clears_exactly_the_range() {
        let mut buf = vec![0xa5u8; 1024 + 128];
        for off in 0..64 {
            for n in 0..700 {
                buf.fill(0xa5);
                // SAFETY: `off + n < buf.len()`, and the buffer is ours.
                unsafe { memclr(buf.as_mut_ptr().add(off), n) };
                assert!(buf[..off].iter().all(|&b| b == 0xa5), "before, off {off} n {n}");
                assert!(buf[off..off + n].iter().all(|&b| b == 0), "inside, off {off} n {n}");
                assert!(buf[off + n..].iter().all(|&b| b == 0xa5), "after, off {off} n {n}");
            }
        }
    }
}
