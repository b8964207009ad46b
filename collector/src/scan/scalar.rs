//! The scalar dense-span scan kernel: 64-bit words, no vector instructions (the part Go's
//! `scan_go.go` plays in Go's tests). See the module docs of [`super`] for what it computes.
//!
//! Per 64-word block of the page: the block's word mask (the expansion, chosen per size class
//! at compile time), ANDed with the block's heap bits, then one load per set bit. A value is
//! written to the buffer unconditionally and the count advanced only when it is non-zero, so
//! nils cost no branch (Go's `unsafeBuf.addIf`).
//!
//! Two expansions, both exact:
//! - **`f` a power of two** (16, 32, 64, 128, 256, 512 bytes): a block holds `64 / f` whole
//!   objects, so its mask is the block's `64 / f` object bits *spread* to one bit every `f`
//!   (a few shift-or-mask steps, the classic bit-interleave), times `2^f - 1`, which turns
//!   each spread bit into a run of `f` ones (the runs are disjoint, so the product carries
//!   nothing between them).
//! - **otherwise**: objects straddle blocks; each selected object ORs one run of `f` ones into
//!   the block where it starts and, when it crosses into the next block, the rest into that one.

use super::{per_class, ObjMask, PtrMask, PAGE_WORDS};
use crate::sync::load_word;

/// The scalar kernel: [`scan_span_packed`](super::scan_span_packed) on any CPU.
///
/// # Safety
/// As [`scan_span_packed`](super::scan_span_packed), except that `mem` need only be 8-byte
/// aligned.
pub unsafe fn scan_span_packed_scalar(
    mem: *const u64,
    buf: &mut [usize; PAGE_WORDS],
    objs: &ObjMask,
    elemsize: usize,
    ptrs: &PtrMask,
) -> usize {
    // SAFETY: the caller's guarantees are `scan`'s contract; `per_class` only instantiates
    // `scan` with the object size in words of `elemsize`.
    unsafe { per_class!(elemsize / 8, scan(mem, buf, objs, ptrs)) }
}

/// The word mask of the objects `objs` selects, for `elemsize`-byte objects (the scalar
/// kernel's expansion; tests compare it with [`super::expand_reference`]).
#[cfg(test)]
pub(crate) fn expand_scalar(objs: &ObjMask, elemsize: usize) -> PtrMask {
    per_class!(elemsize / 8, expand(objs))
}

/// The kernel for objects of `F` words.
///
/// # Safety
/// As [`scan_span_packed_scalar`].
#[inline]
unsafe fn scan<const F: usize>(
    mem: *const u64,
    buf: &mut [usize; PAGE_WORDS],
    objs: &ObjMask,
    ptrs: &PtrMask,
) -> usize {
    let words = expand::<F>(objs);
    let mut n = 0;
    for (block, (&sel, &ptr)) in words.iter().zip(ptrs).enumerate() {
        let mut bits = sel & ptr;
        while bits != 0 {
            let w = block * 64 + bits.trailing_zeros() as usize;
            bits &= bits - 1;
            // SAFETY: `w < PAGE_WORDS`, so the word is inside the caller's page (mapped, InUse,
            // aligned); it is selected by both masks, so the caller guarantees it is a pointer
            // slot written only atomically, which is what `load_word` needs.
            let v = unsafe { load_word(mem.add(w) as usize) };
            // `n` counts values kept among the words visited so far, at most 1023 here.
            buf[n] = v;
            n += (v != 0) as usize;
        }
    }
    n
}

/// `F` ones: one object's words.
const fn run(f: usize) -> u64 {
    if f >= 64 {
        !0
    } else {
        (1 << f) - 1
    }
}

/// The masks of the spread steps for a power-of-two `f` (see [`spread`]): step `s` leaves
/// chunks of `c = (64 / f) >> (s + 1)` bits, one every `c * f` bits, and keeps only those.
const fn spread_masks(f: usize) -> [u64; 6] {
    let mut masks = [0u64; 6];
    let mut c = 64 / f / 2;
    let mut s = 0;
    while c >= 1 {
        let mut m = 0u64;
        let mut base = 0;
        while base < 64 {
            m |= ((1u64 << c) - 1) << base;
            base += c * f;
        }
        masks[s] = m;
        c /= 2;
        s += 1;
    }
    masks
}

/// Move bit `i` of `x` (for `i < 64 / F`) to bit `i * F`, for a power-of-two `F`: halve the
/// chunk size each step, shifting the upper half of every chunk up by `c * (F - 1)`.
#[inline(always)]
fn spread<const F: usize>(mut x: u64) -> u64 {
    let masks = const { spread_masks(F) };
    let mut c = 64 / F / 2;
    let mut s = 0;
    while c >= 1 {
        x = (x | (x << (c * (F - 1)))) & masks[s];
        c /= 2;
        s += 1;
    }
    x
}

/// The word mask for objects of `F` words (module docs: the two methods).
#[inline(always)]
fn expand<const F: usize>(objs: &ObjMask) -> PtrMask {
    let mut out = [0u64; PAGE_WORDS / 64];
    if F.is_power_of_two() {
        let per_block = 64 / F;
        for (block, word) in out.iter_mut().enumerate() {
            let first = block * per_block;
            let bits = (objs[first / 64] >> (first % 64)) & run(per_block);
            *word = spread::<F>(bits).wrapping_mul(run(F));
        }
    } else {
        for (i, &word) in objs.iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                let start = (i * 64 + bits.trailing_zeros() as usize) * F;
                bits &= bits - 1;
                let (block, off) = (start / 64, start % 64);
                if block >= out.len() {
                    // A bit past the page's last object (the caller's contract says there
                    // are none): nothing of it is in the page.
                    return out;
                }
                out[block] |= run(F) << off;
                if off + F > 64 && block + 1 < out.len() {
                    out[block + 1] |= run(F) >> (64 - off);
                }
            }
        }
    }
    out
}
