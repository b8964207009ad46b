//! The AVX-512 dense-span scan kernel (Go's `scan_amd64.s`, `expand_amd64.s` and the
//! generator `mkasm.go`). See the module docs of [`super`] for what it computes and why its
//! loads are in `asm!`.
//!
//! # Expansion: `VPERMB` + `VGF2P8AFFINEQB`
//!
//! The 1024-bit word mask is two 64-byte registers, 128 output bytes. Output byte `o` covers
//! words `8o .. 8o + 8`; with `f` words an object they belong to objects `8o / f ..= (8o + 7) /
//! f`, which all lie in input byte `o / f` of the object mask (an input byte boundary, object
//! `8k`, is word `8kf`, itself a byte boundary of the output). Row `r` of output byte `o` is
//! bit `(8o + r) / f mod 8` of that input byte. So each output byte is a fixed 8x8 bit matrix
//! applied to one input byte: exactly what `VGF2P8AFFINEQB` computes, with one matrix per
//! 8-byte lane, after `VPERMB` has put the right input byte in each position.
//!
//! The one constraint is that the eight bytes of a lane share a matrix, while output bytes in a
//! row need different ones (a matrix depends on `o mod f`). So, as Go's generator does, the
//! output bytes are sorted into *groups* of up to eight that use the same matrix (matrices are
//! compared by value: for large `f` most bytes are a single bit repeated, and share a few), one
//! group per lane, eight lanes per *super-group*, one `VPERMB` + `VGF2P8AFFINEQB` per
//! super-group; a final permutation per output register gathers its bytes from the
//! super-groups' results (`VPERMI2B` takes two sources; more are zero-masked and ORed). A group
//! never mixes the two output registers, which keeps each register's sources few. [`Plan`]
//! holds the tables; `const fn` [`Plan::build`] computes them at compile time, one plan per
//! class (Go generates assembly instead). The test `plans_are_small` prints each class's size.
//!
//! # The scan loop
//!
//! The word mask ANDed with the heap bits is stored to the stack, and each of its non-zero
//! bytes (one per 64-byte frame of the page) drives a zero-masked load of that frame, a
//! `VPTESTMQ` for the non-zero lanes, a `VPCOMPRESSQ` of them into a register and a full
//! 64-byte store at the buffer's fill mark, which then advances by the count. Two differences
//! from Go's loop, both measured by `benches/benches/scan.rs`:
//! - the nil filter is folded into the compress mask, where Go runs a second pass over the
//!   buffer (`FilterNilAVX512`); the masked load's zeroed lanes drop out with the nils;
//! - the count is a `POPCNT` of that mask, where Go precomputes per-frame counts with
//!   `VPOPCNTB` (BITALG); so this kernel needs AVX512F, BW, VBMI, GFNI and POPCNT, where Go
//!   requires VL, BW, DQ, VBMI, BITALG, GFNI and POPCNT.
//!
//! The compress writes into a register and a plain store follows: `VPCOMPRESSQ` with a memory
//! destination is "around an order of magnitude" slower on AMD Zen 4 (Go's comment, citing
//! Lemire's measurements); Zen 5 fixed it.

use super::{per_class, ObjMask, PtrMask, PAGE_WORDS};
use core::arch::asm;
use core::arch::x86_64::{
    __m512i, _mm512_and_si512, _mm512_gf2p8affine_epi64_epi8, _mm512_loadu_si512,
    _mm512_maskz_compress_epi64, _mm512_maskz_permutex2var_epi8, _mm512_or_si512,
    _mm512_permutexvar_epi8, _mm512_setzero_si512, _mm512_storeu_si512, _mm512_test_epi64_mask,
};
use std::sync::OnceLock;

/// Most super-groups any class needs (a test checks every plan fits).
const MAX_SG: usize = 8;
/// Most two-source permutations any output register needs.
const MAX_PARTS: usize = 4;

/// One two-source permutation of an output register: bytes `mask` of
/// `VPERMI2B(sg[a], idx, sg[b])`, the others zero.
#[derive(Clone, Copy)]
struct Part {
    a: usize,
    b: usize,
    idx: [u8; 64],
    mask: u64,
}

/// The tables of one class's expansion (module docs).
struct Plan {
    /// Super-groups used.
    n_sg: usize,
    /// Per super-group, the input byte each of its 64 bytes takes (`VPERMB` indices).
    in_shuf: [[u8; 64]; MAX_SG],
    /// Per super-group, each lane's matrix in `VGF2P8AFFINEQB`'s layout (row `r` of the
    /// matrix, which makes bit `r` of the result, is byte `7 - r`).
    mats: [[u64; 8]; MAX_SG],
    /// Per output register, the permutations used.
    n_parts: [usize; 2],
    /// Per output register, its permutations, ORed.
    parts: [[Part; MAX_PARTS]; 2],
}

impl Plan {
    /// The plan for objects of `f` words (`2 <= f <= 64`).
    const fn build(f: usize) -> Plan {
        const NO_PART: Part = Part { a: 0, b: 0, idx: [0; 64], mask: 0 };
        let mut plan = Plan {
            n_sg: 0,
            in_shuf: [[0; 64]; MAX_SG],
            mats: [[0; 8]; MAX_SG],
            n_parts: [0; 2],
            parts: [[NO_PART; MAX_PARTS]; 2],
        };
        // Groups: the matrix, fill and output register of each; where each output byte went.
        let mut gmat = [0u64; MAX_SG * 8];
        let mut glen = [0usize; MAX_SG * 8];
        let mut greg = [0usize; MAX_SG * 8];
        let mut ngroups = 0;
        let mut pos = [0usize; 128];
        let mut o = 0;
        while o < 128 {
            let mut mat = 0u64;
            let mut r = 0;
            while r < 8 {
                mat |= (1u64 << ((8 * o + r) / f % 8)) << ((7 - r) * 8);
                r += 1;
            }
            // The open group with this matrix in this register, or a new one.
            let reg = o / 64;
            let mut g = 0;
            while g < ngroups && !(glen[g] < 8 && greg[g] == reg && gmat[g] == mat) {
                g += 1;
            }
            if g == ngroups {
                assert!(ngroups < MAX_SG * 8, "expansion needs more than MAX_SG super-groups");
                gmat[g] = mat;
                greg[g] = reg;
                ngroups += 1;
            }
            let (sg, lane, j) = (g / 8, g % 8, glen[g]);
            plan.in_shuf[sg][lane * 8 + j] = (o / f) as u8;
            plan.mats[sg][lane] = mat;
            pos[o] = sg * 64 + lane * 8 + j;
            glen[g] += 1;
            o += 1;
        }
        plan.n_sg = ngroups.div_ceil(8);
        // Each register's sources, in order, paired into two-source permutations.
        let mut reg = 0;
        while reg < 2 {
            let mut used = [false; MAX_SG];
            let mut o = reg * 64;
            while o < reg * 64 + 64 {
                used[pos[o] / 64] = true;
                o += 1;
            }
            let mut srcs = [0usize; MAX_SG];
            let mut nsrc = 0;
            let mut sg = 0;
            while sg < MAX_SG {
                if used[sg] {
                    srcs[nsrc] = sg;
                    nsrc += 1;
                }
                sg += 1;
            }
            let nparts = nsrc.div_ceil(2);
            assert!(nparts <= MAX_PARTS, "an output register needs too many sources");
            let mut p = 0;
            while p < nparts {
                plan.parts[reg][p].a = srcs[2 * p];
                plan.parts[reg][p].b = srcs[if 2 * p + 1 < nsrc { 2 * p + 1 } else { 2 * p }];
                p += 1;
            }
            let mut o = reg * 64;
            while o < reg * 64 + 64 {
                let sg = pos[o] / 64;
                let mut k = 0;
                while srcs[k] != sg {
                    k += 1;
                }
                let part = &mut plan.parts[reg][k / 2];
                let second = k % 2 == 1 && part.a != part.b;
                part.idx[o % 64] = (pos[o] % 64) as u8 | if second { 64 } else { 0 };
                part.mask |= 1 << (o % 64);
                o += 1;
            }
            plan.n_parts[reg] = nparts;
            reg += 1;
        }
        plan
    }
}

/// The size of the plan for objects of `f` words: super-groups (one `VPERMB` and one
/// `VGF2P8AFFINEQB` each) and two-source permutations per output register (for tests).
#[cfg(test)]
pub(crate) fn plan_size(f: usize) -> (usize, [usize; 2]) {
    let plan = Plan::build(f);
    (plan.n_sg, plan.n_parts)
}

/// Whether this CPU has every feature the kernel enables; detected once.
pub(crate) fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vbmi")
            && is_x86_feature_detected!("gfni")
            && is_x86_feature_detected!("popcnt")
    })
}

/// The AVX-512 kernel: [`scan_span_packed`](super::scan_span_packed) with vectors (Go's
/// `ScanSpanPackedAVX512`).
///
/// # Safety
/// - The CPU has AVX512F, AVX512BW, AVX512VBMI, GFNI and POPCNT
///   ([`has_fast_scan_span_packed`](super::has_fast_scan_span_packed) says so);
/// - and everything [`scan_span_packed`](super::scan_span_packed) requires (in particular
///   `mem` is 64-byte aligned).
#[doc(alias = "ScanSpanPackedAVX512")]
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi,gfni,popcnt")]
pub unsafe fn scan_span_packed_avx512(
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

/// The vector kernel's expansion, stored (Go's `ExpandAVX512`; for tests).
///
/// # Safety
/// The CPU has the features [`scan_span_packed_avx512`] needs.
#[cfg(test)]
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi,gfni,popcnt")]
pub(crate) unsafe fn expand_avx512(objs: &ObjMask, elemsize: usize) -> PtrMask {
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi,gfni,popcnt")]
    fn stored<const F: usize>(objs: &ObjMask) -> PtrMask {
        let [lo, hi] = expand::<F>(objs);
        let mut out = [0u64; 16];
        // SAFETY: `out` is 128 writable bytes; the stores are unaligned ones.
        unsafe {
            _mm512_storeu_si512(out.as_mut_ptr().cast(), lo);
            _mm512_storeu_si512(out.as_mut_ptr().add(8).cast(), hi);
        }
        out
    }
    per_class!(elemsize / 8, stored(objs))
}

/// The word mask of the objects `objs` selects, for objects of `F` words, as two registers
/// (words 0..512, 512..1024).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi,gfni,popcnt")]
fn expand<const F: usize>(objs: &ObjMask) -> [__m512i; 2] {
    let plan: &'static Plan = const { &Plan::build(F) };
    // SAFETY: `objs` is 64 readable bytes; the load is an unaligned one.
    let x = unsafe { _mm512_loadu_si512(objs.as_ptr().cast()) };
    let mut sg = [_mm512_setzero_si512(); MAX_SG];
    for (s, out) in sg.iter_mut().enumerate().take(plan.n_sg) {
        // SAFETY: both tables are 64 readable bytes; the loads are unaligned ones.
        let (shuf, mat) = unsafe {
            (
                _mm512_loadu_si512(plan.in_shuf[s].as_ptr().cast()),
                _mm512_loadu_si512(plan.mats[s].as_ptr().cast()),
            )
        };
        *out = _mm512_gf2p8affine_epi64_epi8::<0>(_mm512_permutexvar_epi8(shuf, x), mat);
    }
    let mut regs = [_mm512_setzero_si512(); 2];
    for (reg, out) in regs.iter_mut().enumerate() {
        for part in &plan.parts[reg][..plan.n_parts[reg]] {
            // SAFETY: the table is 64 readable bytes; the load is an unaligned one.
            let idx = unsafe { _mm512_loadu_si512(part.idx.as_ptr().cast()) };
            let bytes = _mm512_maskz_permutex2var_epi8(part.mask, sg[part.a], idx, sg[part.b]);
            *out = _mm512_or_si512(*out, bytes);
        }
    }
    regs
}

/// Load the words of the 64-byte frame at `frame` that `lanes` selects (bit `j` = word `j`),
/// zeros elsewhere.
///
/// # Safety
/// - `frame` is 64-byte aligned and its 64 bytes are mapped;
/// - each word `lanes` selects is only ever written with atomic stores of whole words.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn load_frame(frame: *const u64, lanes: u8) -> __m512i {
    let v: __m512i;
    // This block's effect is that of one atomic load of each selected word (aligned on 8
    // bytes, inside one cache line), the rest reading as zero: code Rust could run without a
    // data race, which is what an asm block is allowed to stand for. The module docs give
    // what the hardware guarantees about the element loads and what we rely on.
    // SAFETY: the caller guarantees an aligned, mapped frame whose selected words are accessed
    // only atomically; the block stands for atomic loads of exactly those words (above).
    unsafe {
        asm!(
            "vmovdqa64 {v} {{{k}}}{{z}}, zmmword ptr [{p}]",
            v = lateout(zmm_reg) v,
            k = in(kreg) lanes,
            p = in(reg) frame,
            options(nostack, readonly, preserves_flags),
        );
    }
    v
}

/// The kernel for objects of `F` words.
///
/// # Safety
/// As [`scan_span_packed_avx512`].
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi,gfni,popcnt")]
unsafe fn scan<const F: usize>(
    mem: *const u64,
    buf: &mut [usize; PAGE_WORDS],
    objs: &ObjMask,
    ptrs: &PtrMask,
) -> usize {
    let [lo, hi] = expand::<F>(objs);
    let mut words = [0u64; PAGE_WORDS / 64];
    // SAFETY: `ptrs` is 128 readable bytes and `words` 128 writable ones; the loads and
    // stores are unaligned ones.
    unsafe {
        let (p0, p1) = (
            _mm512_loadu_si512(ptrs.as_ptr().cast()),
            _mm512_loadu_si512(ptrs.as_ptr().add(8).cast()),
        );
        _mm512_storeu_si512(words.as_mut_ptr().cast(), _mm512_and_si512(lo, p0));
        _mm512_storeu_si512(words.as_mut_ptr().add(8).cast(), _mm512_and_si512(hi, p1));
    }
    let out = buf.as_mut_ptr();
    let mut n = 0usize;
    for (block, &sel) in words.iter().enumerate() {
        let mut bits = sel;
        while bits != 0 {
            // The next frame with a word to read: byte `b` of this block's mask.
            let b = (bits.trailing_zeros() / 8) as usize;
            let lanes = (bits >> (b * 8)) as u8;
            bits &= !(0xff << (b * 8));
            let frame = block * 8 + b;
            // SAFETY: frame `frame < 128` of the caller's 64-byte aligned page, whose selected
            // words (those of `lanes`, selected by both masks) are pointer slots written only
            // atomically.
            let v = unsafe { load_frame(mem.add(frame * 8), lanes) };
            let nonzero = _mm512_test_epi64_mask(v, v);
            let packed = _mm512_maskz_compress_epi64(nonzero, v);
            // SAFETY: at most 8 values are kept per frame, so `n <= 8 * frame` and the
            // 8-word store at `n` ends at or before word `8 * (frame + 1) <= PAGE_WORDS` of
            // `buf`; the store is an unaligned one.
            unsafe { _mm512_storeu_si512(out.add(n).cast(), packed) };
            n += nonzero.count_ones() as usize;
        }
    }
    n
}
