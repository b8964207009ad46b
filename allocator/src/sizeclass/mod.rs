//! Size classes and span classes (Go's `sizeclasses.go`, `msize.go`, `spanClass` in `mheap.go`).
//!
//! Small requests (up to [`MAX_SMALL_REQUEST`] bytes) are rounded up to one of 67 size classes;
//! each class has a fixed span length in pages, so a span is an array of equal slots. Class 0
//! stands for large objects, which get a span of their own.
//!
//! # Which object counts we use
//!
//! Go 1.27 ships two layouts. Its generated table gives the *nominal* count (span bytes / object
//! size). With the Green Tea collector on (the default), every span of 16..=512-byte objects
//! also reserves 128 bytes at its end for inline mark state, so noscan-16 holds 504 objects, not
//! 512. gomem has both, chosen per heap when it is made (`HeapConfig::span_inline_marks`,
//! `GODEBUG=greenteagc`): with Green Tea ([`SpanClass::objects_in`]`(true)`) the inline block
//! is reserved as in Go, and the pointer bitmap of a scan span sits in the 128 bytes before it;
//! without ([`SpanClass::objects`], the classic layout) noscan spans hold the nominal count, and
//! one-page scan spans of objects up to 512 bytes reserve only the last 128 bytes for their
//! pointer bitmap (so scan-16 holds 504). The `gomem sizeclasses` command prints the nominal
//! table, which is what `sizeclasses.go` shows.
//!
//! # Lookup
//!
//! [`SizeClass::for_size`] is O(1): two byte tables, one with 8-byte steps up to 1024 bytes and
//! one with 128-byte steps above, built at compile time from the class sizes (Go's
//! `size_to_class8` / `size_to_class128`).
//!
//! # Invariant
//!
//! A [`SizeClass`] number is below [`NUM_SIZE_CLASSES`] and a [`SpanClass`] index below
//! [`NUM_SPAN_CLASSES`]: values are made only from the lookup tables, from a valid size class,
//! or by the checking `from_index`. The `index` methods state this to the compiler (the one
//! `unsafe` here), so per-class tables and the cache's span array are indexed without bounds
//! checks on the allocation path.

mod table;

pub use table::{
    CLASS_MAX_WASTE_BP, CLASS_NOMINAL_OBJECTS, CLASS_TAIL_WASTE, CLASS_TO_NPAGES, CLASS_TO_SIZE,
};

use crate::consts::{MAX_SMALL_REQUEST, MAX_SMALL_SIZE, MIN_SIZE_FOR_MALLOC_HEADER, PAGE_SIZE};
use crate::consts::{PAGE_SHIFT, SPAN_HEAP_BITS_SIZE, TINY_SIZE};

/// Number of size classes including class 0 (`_NumSizeClasses`).
pub const NUM_SIZE_CLASSES: usize = 68;
/// Number of span classes (`numSpanClasses`): every size class in a scan and a noscan flavour.
pub const NUM_SPAN_CLASSES: usize = NUM_SIZE_CLASSES * 2;

const SMALL_SIZE_DIV: usize = 8;
const SMALL_SIZE_MAX: usize = 1024;
const LARGE_SIZE_DIV: usize = 128;

const fn build_size_to_class8() -> [u8; SMALL_SIZE_MAX / SMALL_SIZE_DIV + 1] {
    let mut t = [0u8; SMALL_SIZE_MAX / SMALL_SIZE_DIV + 1];
    let mut i = 0;
    while i < t.len() {
        let want = i * SMALL_SIZE_DIV;
        let mut c = 1;
        while (CLASS_TO_SIZE[c] as usize) < want {
            c += 1;
        }
        t[i] = c as u8;
        i += 1;
    }
    t
}

const fn build_size_to_class128() -> [u8; (MAX_SMALL_SIZE - SMALL_SIZE_MAX) / LARGE_SIZE_DIV + 1] {
    let mut t = [0u8; (MAX_SMALL_SIZE - SMALL_SIZE_MAX) / LARGE_SIZE_DIV + 1];
    let mut i = 0;
    while i < t.len() {
        let want = SMALL_SIZE_MAX + i * LARGE_SIZE_DIV;
        let mut c = 1;
        while (CLASS_TO_SIZE[c] as usize) < want {
            c += 1;
        }
        t[i] = c as u8;
        i += 1;
    }
    t
}

/// `size_to_class8[ceil(n / 8)]` for `n <= 1024`.
///
/// The two lookup tables are `const`, not `static`: the allocation entry points are inlined
/// into other crates, and only a `const` table lets the compiler fold the lookup when the size
/// is known there (as it is for a typed allocation), so the fast path starts with the span
/// class already computed.
const SIZE_TO_CLASS8: [u8; SMALL_SIZE_MAX / SMALL_SIZE_DIV + 1] = build_size_to_class8();
/// `size_to_class128[ceil((n - 1024) / 128)]` for `1024 < n <= 32768`.
const SIZE_TO_CLASS128: [u8; (MAX_SMALL_SIZE - SMALL_SIZE_MAX) / LARGE_SIZE_DIV + 1] =
    build_size_to_class128();

const fn build_div_magic() -> [u32; NUM_SIZE_CLASSES] {
    let mut t = [0u32; NUM_SIZE_CLASSES];
    let mut c = 1;
    while c < NUM_SIZE_CLASSES {
        t[c] = (u32::MAX / CLASS_TO_SIZE[c]) + 1;
        c += 1;
    }
    t
}

/// `2^32 / size + 1` per class (Go's `class_to_divmagic`): `(offset * magic) >> 32` equals
/// `offset / size` for every offset inside a span of that class.
static DIV_MAGIC: [u32; NUM_SIZE_CLASSES] = build_div_magic();

/// A size class (Go's `sizeclass`, a `uint8`). Class 0 means "large object".
#[doc(alias = "sizeclass")]
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct SizeClass(u8);

impl SizeClass {
    /// The class of large objects.
    pub const LARGE: SizeClass = SizeClass(0);
    /// The class of tiny blocks (16 bytes, Go's `tinySizeClass`).
    pub const TINY: SizeClass = SizeClass(2);

    /// The smallest class whose objects hold `size` bytes, or `None` when `size` needs a large
    /// object (`size > 32768`). `size == 0` maps to class 1, like any other 1..=8 request.
    #[inline(always)]
    pub fn for_size(size: usize) -> Option<SizeClass> {
        if size <= SMALL_SIZE_MAX - 8 {
            Some(SizeClass(SIZE_TO_CLASS8[size.div_ceil(SMALL_SIZE_DIV)]))
        } else if size <= MAX_SMALL_SIZE {
            // 1017..=1024 round to index 0 of the 128 table, which is class 32 (1024 bytes).
            let idx = size.saturating_sub(SMALL_SIZE_MAX).div_ceil(LARGE_SIZE_DIV);
            Some(SizeClass(SIZE_TO_CLASS128[idx]))
        } else {
            None
        }
    }

    /// The class with this number, if it exists (0..=67).
    pub fn from_index(i: usize) -> Option<SizeClass> {
        (i < NUM_SIZE_CLASSES).then_some(SizeClass(i as u8))
    }

    /// The class number.
    #[inline(always)]
    pub const fn index(self) -> usize {
        // SAFETY: a `SizeClass` is only made from the lookup tables (whose entries are class
        // numbers) or by `from_index`, which checks: its number is below NUM_SIZE_CLASSES.
        // Telling the compiler so removes the bounds checks of per-class tables.
        unsafe { core::hint::assert_unchecked((self.0 as usize) < NUM_SIZE_CLASSES) };
        self.0 as usize
    }

    /// Bytes per object (0 for the large class).
    #[inline(always)]
    pub const fn size(self) -> usize {
        CLASS_TO_SIZE[self.index()] as usize
    }

    /// Pages per span (0 for the large class).
    #[inline(always)]
    pub const fn npages(self) -> usize {
        CLASS_TO_NPAGES[self.0 as usize] as usize
    }

    /// Objects per span in Go's generated table.
    pub const fn nominal_objects(self) -> usize {
        CLASS_NOMINAL_OBJECTS[self.0 as usize] as usize
    }

    /// The magic multiplier for exact division by [`SizeClass::size`].
    #[inline(always)]
    pub fn div_magic(self) -> u32 {
        DIV_MAGIC[self.0 as usize]
    }

    /// Whether scan spans of this class keep a pointer bitmap at their end (objects of at most
    /// 512 bytes; such spans are always one page long).
    #[inline(always)]
    pub const fn has_span_heap_bits(self) -> bool {
        self.0 != 0 && self.size() <= MIN_SIZE_FOR_MALLOC_HEADER
    }

    /// The largest power-of-two alignment that every slot base of this class has. Derived from
    /// the size: spans start page-aligned and slots sit at multiples of the size, so the
    /// alignment is the largest power of two dividing the size, capped at a page.
    pub const fn slot_alignment(self) -> usize {
        let s = self.size();
        let a = 1usize << s.trailing_zeros();
        if a > PAGE_SIZE {
            PAGE_SIZE
        } else {
            a
        }
    }
}

/// A span class (Go's `spanClass`): `size_class << 1 | noscan`.
///
/// Pointer-free objects live in noscan spans, which the collector never scans. Large spans use
/// size class 0 and still carry the noscan bit.
#[doc(alias = "spanClass")]
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct SpanClass(u8);

impl SpanClass {
    /// The span class of tiny blocks (class 2, noscan = 5).
    pub const TINY: SpanClass = SpanClass::new(SizeClass::TINY, true);

    /// Combine a size class and the noscan flag.
    #[inline(always)]
    pub const fn new(sc: SizeClass, noscan: bool) -> SpanClass {
        SpanClass((sc.0 << 1) | noscan as u8)
    }

    /// The span class with this index (0..136), if valid.
    pub fn from_index(i: usize) -> Option<SpanClass> {
        (i < NUM_SPAN_CLASSES).then_some(SpanClass(i as u8))
    }

    /// Index into per-span-class arrays (0..136).
    #[inline(always)]
    pub const fn index(self) -> usize {
        // SAFETY: a `SpanClass` is made by `new` from a valid `SizeClass` (so at most
        // 2 × 67 + 1) or by `from_index`, which checks: it is below NUM_SPAN_CLASSES. Telling
        // the compiler so removes the bounds check of the cache's per-class span array.
        unsafe { core::hint::assert_unchecked((self.0 as usize) < NUM_SPAN_CLASSES) };
        self.0 as usize
    }

    /// The size class.
    #[inline(always)]
    pub const fn size_class(self) -> SizeClass {
        SizeClass(self.0 >> 1)
    }

    /// Whether objects of this span hold no pointers.
    #[inline(always)]
    pub const fn noscan(self) -> bool {
        self.0 & 1 != 0
    }

    /// Objects per span in the classic layout (`GODEBUG=greenteagc=0`): the nominal count for
    /// noscan spans and for scan spans above 512 bytes; `(page − 128) / size` for one-page scan
    /// spans that keep their pointer bitmap in the span. 1 for large spans. The same as
    /// `objects_in(false)`; see [`SpanClass::objects_in`] for the layout a heap uses.
    pub const fn objects(self) -> usize {
        self.objects_in(false)
    }

    /// Whether spans of this class keep Green Tea's inline mark block at the end of their page
    /// when the heap uses that layout (Go's `gcUsesSpanInlineMarkBits`): one-page spans of
    /// 16..=512-byte objects, scan and noscan.
    #[inline(always)]
    pub const fn uses_inline_marks(self) -> bool {
        let sc = self.size_class();
        sc.has_span_heap_bits() && sc.size() >= 16
    }

    /// Objects per span in the layout in force: with `inline_marks` (Green Tea,
    /// `GODEBUG=greenteagc=1`, Go's default) the classes of [`SpanClass::uses_inline_marks`]
    /// also reserve the 128-byte inline mark block
    /// ([`SPAN_INLINE_MARK_BITS_SIZE`](crate::spaninline::SPAN_INLINE_MARK_BITS_SIZE)), as Go's
    /// `initSpan` does; without it this is [`SpanClass::objects`].
    pub const fn objects_in(self, inline_marks: bool) -> usize {
        let sc = self.size_class();
        if sc.0 == 0 {
            return 1;
        }
        let mut reserve = 0;
        if inline_marks && self.uses_inline_marks() {
            reserve += crate::spaninline::SPAN_INLINE_MARK_BITS_SIZE;
        }
        if !self.noscan() && sc.has_span_heap_bits() {
            reserve += SPAN_HEAP_BITS_SIZE;
        }
        if reserve == 0 {
            sc.nominal_objects()
        } else {
            (PAGE_SIZE - reserve) / sc.size()
        }
    }
}

/// How a request of `size` bytes will be served (the dispatch at the top of Go's `mallocgc`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SizeKind {
    /// A zero-size request: every one returns the same address (Go's `zerobase`).
    Zero,
    /// Pointer-free and under 16 bytes: packed into a shared 16-byte tiny block.
    Tiny,
    /// A slot of this size class; `header` says whether an 8-byte type header precedes it.
    Small {
        /// The span class.
        spc: SpanClass,
        /// Whether the slot begins with a type header word (scan objects over 512 bytes).
        header: bool,
    },
    /// A span of its own, `npages` long.
    Large {
        /// Pages in the span.
        npages: usize,
    },
}

/// Classify a request of `size` bytes, with or without pointers. `None` when the size cannot be
/// represented as whole pages in the address space.
pub fn classify(size: usize, noscan: bool) -> Option<SizeKind> {
    if size == 0 {
        return Some(SizeKind::Zero);
    }
    if noscan && size < TINY_SIZE {
        return Some(SizeKind::Tiny);
    }
    if size <= MAX_SMALL_REQUEST {
        let header = !noscan && size > MIN_SIZE_FOR_MALLOC_HEADER;
        let need = if header { size + crate::consts::MALLOC_HEADER_SIZE } else { size };
        let sc = SizeClass::for_size(need)?;
        return Some(SizeKind::Small { spc: SpanClass::new(sc, noscan), header });
    }
    let npages = size.checked_add(PAGE_SIZE - 1)? / PAGE_SIZE;
    if npages > (1usize << (crate::consts::HEAP_ADDR_BITS - crate::consts::PAGE_SHIFT)) {
        return None;
    }
    Some(SizeKind::Large { npages })
}

/// The column header of Go's size-class comment, without the leading `// `.
const TABLE_HEADER: &str =
    "class  bytes/obj  bytes/span  objects  tail waste  max waste  min align";
/// The header of the alignment summary that follows the class rows in Go's comment.
const ALIGN_HEADER: &str = "alignment  bits  min obj size";

/// Render the size-class table as Go's generator prints it in the comment at the top of
/// `internal/runtime/gc/sizeclasses.go`, with the leading `// ` of each line removed.
///
/// The output has two blocks separated by a blank line, each ending in a newline:
///
/// 1. the header `class  bytes/obj  bytes/span  objects  tail waste  max waste  min align` and
///    one row per class 1..=67, with Go's column widths (5, 9, 10, 7, 10, 8 plus `%`, and 9,
///    right-aligned, two spaces apart). The object, tail-waste and max-waste columns are the stored
///    [`CLASS_NOMINAL_OBJECTS`], [`CLASS_TAIL_WASTE`] and [`CLASS_MAX_WASTE_BP`], so diffing this
///    output against Go's file checks the transcription; "min align" is
///    [`SizeClass::slot_alignment`].
/// 2. the alignment summary `alignment  bits  min obj size`: for each power-of-two alignment,
///    the smallest object size from which every larger class is at least that aligned (levels
///    that start at the same size as the next higher level are omitted, as Go does).
///
/// Object counts are Go's nominal ones (span bytes / object size), not the per-span counts of
/// [`SpanClass::objects`].
pub fn format_table() -> String {
    use std::fmt::Write as _;

    let mut out = String::new();
    out.push_str(TABLE_HEADER);
    out.push('\n');
    for c in 1..NUM_SIZE_CLASSES {
        let sc = SizeClass(c as u8);
        let waste = CLASS_MAX_WASTE_BP[c];
        let waste = format!("{}.{:02}", waste / 100, waste % 100);
        // Writing into a String cannot fail.
        let _ = writeln!(
            out,
            "{:5}  {:9}  {:10}  {:7}  {:10}  {:>8}%  {:9}",
            c,
            sc.size(),
            sc.npages() * PAGE_SIZE,
            sc.nominal_objects(),
            CLASS_TAIL_WASTE[c],
            waste,
            sc.slot_alignment(),
        );
    }
    out.push('\n');

    // min_size[b] = the smallest class size from which every class up to the largest has an
    // alignment of at least 2^b (0 when the largest class is not that aligned).
    let mut min_size = [0usize; PAGE_SHIFT + 1];
    for c in 1..NUM_SIZE_CLASSES {
        let sc = SizeClass(c as u8);
        let bits = sc.slot_alignment().trailing_zeros() as usize;
        for (b, slot) in min_size.iter_mut().enumerate() {
            if b > bits {
                *slot = 0;
            } else if *slot == 0 {
                *slot = sc.size();
            }
        }
    }
    out.push_str(ALIGN_HEADER);
    out.push('\n');
    for (b, &size) in min_size.iter().enumerate() {
        if size == 0 {
            break;
        }
        if b + 1 < min_size.len() && min_size[b + 1] == size {
            continue;
        }
        let _ = writeln!(out, "{:9}  {:4}  {:12}", 1usize << b, b, size);
    }
    out
}

#[cfg(all(test, not(loom)))]
mod tests;
