//! The dense-span scan kernel (Go's `internal/runtime/gc/scan`): given a one-page span of
//! small objects, the objects of it to scan and the span's heap bitmap, write out the non-nil
//! pointers those objects hold, in address order. Green Tea's span scan (Go's `scanSpan` in
//! `mgcmark_greenteagc.go`) calls it when enough of a span's objects are grey that one pass over
//! the whole page beats visiting the objects one by one. See the crate docs for the overview.
//!
//! # What it computes
//!
//! The span's objects are `elemsize` bytes (a size class from 16 to 512 bytes, so `f =
//! elemsize / 8` words each, 2 to 64) laid end to end from the page's first word: object `i` is
//! words `i * f .. (i + 1) * f`. Bit `i` of the object mask ([`ObjMask`], Go's `gc.ObjMask`)
//! selects object `i`; bit `w` of the pointer mask ([`PtrMask`], Go's `gc.PtrMask`, the span's
//! heap bitmap) says word `w` of the page holds a pointer. The kernel
//!
//! 1. *expands* the object mask into a word mask of the page's [`PAGE_WORDS`] words (bit `w` set
//!    when the object holding word `w` is selected);
//! 2. ANDs it with the pointer mask, giving the words to read;
//! 3. reads those words and keeps the non-zero ones, packed at the front of the buffer.
//!
//! [`scan_span_packed_reference`] does exactly that one word at a time (Go's
//! `ScanSpanPackedReference`); the two kernels are faster ways to the same answer.
//!
//! # The two kernels, and which one runs
//!
//! - [`scan_span_packed_scalar`] (`scalar.rs`) works on 64-bit words: it expands with a method
//!   chosen per size class at compile time (a bit spread and a multiply when `f` is a power of
//!   two, one shifted run of ones per selected object otherwise), then walks the set bits of
//!   each 64-word block. It runs everywhere, and is the reference the vector kernel is tested
//!   against. Go's pure-Go kernel (`ScanSpanPackedGo`) plays this part in Go's tests only: Go
//!   uses no dense scan at all without AVX-512, since it measured its object-by-object path
//!   faster than that kernel (`scan_generic.go`). Part of Green Tea's choice is therefore
//!   [`has_fast_scan_span_packed`] (Go's `HasFastScanSpanPacked`).
//! - [`scan_span_packed_avx512`] (`avx512.rs`, x86-64 only) is Go's AVX-512 kernel: the
//!   expansion is a few `VPERMB` + `VGF2P8AFFINEQB` pairs from tables built per size class at
//!   compile time, then per 64-byte frame of the page a masked load, a `VPCOMPRESSQ` into a
//!   register and a store.
//!
//! [`scan_span_packed`] picks the AVX-512 kernel when the CPU has what it uses (checked once,
//! then cached) and the scalar one otherwise.
//!
//! # Reading memory that mutators write
//!
//! Mutators store pointer slots with atomic stores while a span is scanned (`write_pointer` in
//! `runtime/src/barrier.rs`). The scalar kernel reads each selected word with
//! [`crate::sync::load_word`], the scanner's atomic load. A 64-byte vector load is
//! not an atomic operation of Rust's memory model, and Rust has no element-wise atomic vector
//! load, so the vector kernel does its loads of span memory inside `asm!` and nowhere else. An
//! asm block may do anything some Rust code could do with the same effect on memory and
//! registers; ours is a zero-masked 64-byte load, whose effect is that of one atomic load of
//! each selected, 8-byte aligned word (on x86-64 an `Acquire` load is a plain `mov`), the
//! masked-out words contributing zeros instead of their contents. So the vector kernel races
//! with the mutators exactly as much as the scalar one: not at all, in the language's terms.
//!
//! What the hardware promises is less than that argument needs, and we say so: the Intel SDM
//! (Vol. 3A, "Guaranteed Atomic Operations") guarantees that an 8-byte access aligned on 8
//! bytes is atomic, and on CPUs with AVX that certain 16-byte aligned vector moves are; it says
//! that x87 and SSE instructions accessing more than a quadword may be carried out as several
//! memory accesses, and promises nothing about how a 64-byte AVX-512 load is carried out.
//! AMD's APM guarantees accesses up to a quadword (and `CMPXCHG16B`). We rely, as Go's
//! runtime does (its kernel issues the same instruction on the same memory), on real
//! implementations reading each naturally aligned 8-byte element of an aligned vector load
//! once and whole; the frames are 64-byte aligned, so no load crosses a cache line. Nothing
//! needs an order among the eight words of a frame (each is an independent pointer slot); that
//! each word's read is an `Acquire` one, as `load_word`'s is (later loads, of the objects the
//! words point to, do not pass it), is x86's ordinary load ordering, relied on in the same way
//! for the elements of a vector load.
//!
//! # Invariants (the callers' side)
//!
//! - The span is `InUse` for the whole call and its page stays mapped: no word is freed under
//!   the kernel.
//! - The pointer mask and object mask are the caller's snapshots (plain references); the
//!   kernel never writes span memory.
//! - The buffer holds the whole page's words, so no scan can overflow it: at most one entry
//!   per word of the page.

#[cfg(target_arch = "x86_64")]
mod avx512;
mod scalar;
#[cfg(all(test, not(loom)))]
mod tests;

#[cfg(target_arch = "x86_64")]
pub use avx512::scan_span_packed_avx512;
pub use scalar::scan_span_packed_scalar;

use crate::sync::load_word;

/// Words in a page (Go's `gc.PageWords`): the words a dense scan covers.
pub const PAGE_WORDS: usize = 1024;

/// One bit per object of a one-page span, object `i` at bit `i % 64` of word `i / 64` (Go's
/// `gc.ObjMask`). The smallest class scanned here (16 bytes) has at most 512 objects a page.
pub type ObjMask = [u64; 8];

/// One bit per word of a page, word `w` at bit `w % 64` of entry `w / 64`: set when the word
/// holds a pointer (Go's `gc.PtrMask`; the span's heap bitmap).
pub type PtrMask = [u64; PAGE_WORDS / 64];

/// The object sizes, in words, of the classes the kernel scans (16 to 512 bytes: gomem's, and
/// Go's, one-page size classes that keep their heap bits in the span).
pub const SCAN_CLASS_WORDS: [usize; 25] =
    [2, 3, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 36, 40, 44, 48, 52, 56, 60, 64];

/// Calls `$kernel::<F>(args)` with `F` the object size in words, for every class of
/// [`SCAN_CLASS_WORDS`]: the kernels are monomorphised per size class, so each class's
/// expansion is straight-line code with its constants folded in (Go generates one expander per
/// class; we let the compiler do it).
macro_rules! per_class {
    ($words:expr, $kernel:ident($($arg:expr),* $(,)?)) => {
        match $words {
            2 => $kernel::<2>($($arg),*),
            3 => $kernel::<3>($($arg),*),
            4 => $kernel::<4>($($arg),*),
            6 => $kernel::<6>($($arg),*),
            8 => $kernel::<8>($($arg),*),
            10 => $kernel::<10>($($arg),*),
            12 => $kernel::<12>($($arg),*),
            14 => $kernel::<14>($($arg),*),
            16 => $kernel::<16>($($arg),*),
            18 => $kernel::<18>($($arg),*),
            20 => $kernel::<20>($($arg),*),
            22 => $kernel::<22>($($arg),*),
            24 => $kernel::<24>($($arg),*),
            26 => $kernel::<26>($($arg),*),
            28 => $kernel::<28>($($arg),*),
            30 => $kernel::<30>($($arg),*),
            32 => $kernel::<32>($($arg),*),
            36 => $kernel::<36>($($arg),*),
            40 => $kernel::<40>($($arg),*),
            44 => $kernel::<44>($($arg),*),
            48 => $kernel::<48>($($arg),*),
            52 => $kernel::<52>($($arg),*),
            56 => $kernel::<56>($($arg),*),
            60 => $kernel::<60>($($arg),*),
            64 => $kernel::<64>($($arg),*),
            w => $crate::scan::bad_class(w),
        }
    };
}
pub(crate) use per_class;

/// The panic of a kernel handed an object size it has no expansion for.
#[cold]
#[track_caller]
pub(crate) fn bad_class(words: usize) -> ! {
    panic!("scan_span_packed: {} bytes is not a one-page size class of 16..=512 bytes", words * 8)
}

/// Whether [`scan_span_packed`] has a vector kernel on this CPU (Go's `HasFastScanSpanPacked`).
///
/// Go scans a span densely only when this holds (and a span is at least 1/8 grey): its
/// portable kernel lost to visiting objects one by one. Green Tea's caller should make the same
/// choice, and measure before changing it (`benches/benches/scan.rs`).
#[doc(alias = "HasFastScanSpanPacked")]
pub fn has_fast_scan_span_packed() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        avx512::available()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Write the non-nil values of the pointer words of the objects selected by `objs` (bit i =
/// object i) in the one-page span at `mem` into `buf`, in address order; return how many.
/// `ptrs` is the span's heap bitmap (bit w = word w of the page holds a pointer).
///
/// Go's `ScanSpanPacked`, with the object size in bytes where Go passes the size class. Runs
/// the AVX-512 kernel where the CPU has it ([`has_fast_scan_span_packed`]), the scalar kernel
/// otherwise; both give the same answer (module docs). Entries of `buf` past the returned count
/// are left with unspecified values.
///
/// # Safety
/// - `mem` is the base of a one-page (8 KiB) span, 64-byte aligned (a page boundary is), and
///   the whole page stays mapped and `InUse` for the call;
/// - every word of the page that `objs` and `ptrs` both select is only ever written with
///   atomic stores of whole words while the call runs (a pointer slot);
/// - `elemsize` is the span's object size, a size class of 16 to 512 bytes
///   ([`SCAN_CLASS_WORDS`] times 8; another value panics), and the bits of `objs` past the
///   span's object count are zero (a set bit past them scans the words it covers, up to the
///   page's end).
#[doc(alias = "ScanSpanPacked")]
#[inline]
pub unsafe fn scan_span_packed(
    mem: *const u64,
    buf: &mut [usize; PAGE_WORDS],
    objs: &ObjMask,
    elemsize: usize,
    ptrs: &PtrMask,
) -> usize {
    #[cfg(target_arch = "x86_64")]
    if avx512::available() {
        // SAFETY: the CPU has every feature the kernel enables (`available`); the caller
        // guarantees the rest, which is this function's own contract.
        return unsafe { scan_span_packed_avx512(mem, buf, objs, elemsize, ptrs) };
    }
    // SAFETY: the caller's guarantees are the scalar kernel's contract.
    unsafe { scan_span_packed_scalar(mem, buf, objs, elemsize, ptrs) }
}

/// The word mask of the objects `objs` selects in a page of `elemsize`-byte objects, one word
/// at a time (Go's `ExpandReference`): the specification both kernels' expansions are tested
/// against.
pub fn expand_reference(objs: &ObjMask, elemsize: usize) -> PtrMask {
    let words = elemsize / 8;
    let mut out = [0u64; PAGE_WORDS / 64];
    for w in 0..PAGE_WORDS {
        let obj = w / words;
        if obj < 512 && objs[obj / 64] & (1 << (obj % 64)) != 0 {
            out[w / 64] |= 1 << (w % 64);
        }
    }
    out
}

/// [`scan_span_packed`] one word of the page at a time, as its specification reads (Go's
/// `ScanSpanPackedReference`): clear, slow, and what the tests compare both kernels with.
///
/// # Safety
/// As [`scan_span_packed`], except that `mem` need only be 8-byte aligned.
#[doc(alias = "ScanSpanPackedReference")]
pub unsafe fn scan_span_packed_reference(
    mem: *const u64,
    buf: &mut [usize; PAGE_WORDS],
    objs: &ObjMask,
    elemsize: usize,
    ptrs: &PtrMask,
) -> usize {
    let words = expand_reference(objs, elemsize);
    let mut n = 0;
    for w in 0..PAGE_WORDS {
        if words[w / 64] & ptrs[w / 64] & (1 << (w % 64)) == 0 {
            continue;
        }
        // SAFETY: word `w` is inside the page at `mem`, aligned, and a pointer slot the caller
        // guarantees is accessed only atomically.
        let v = unsafe { load_word(mem.add(w) as usize) };
        if v != 0 {
            buf[n] = v;
            n += 1;
        }
    }
    n
}
