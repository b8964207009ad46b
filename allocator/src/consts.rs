//! Compile-time constants of the heap, with the reason for each value.
//!
//! These mirror the constants at the top of Go's `malloc.go` and `internal/runtime/gc`
//! (64-bit Linux values). Changing one changes the memory layout everywhere, so each is stated
//! once here and derived elsewhere.

/// log2 of the runtime page size (`_PageShift`). Spans are whole runs of these pages.
pub const PAGE_SHIFT: usize = 13;
/// Runtime page size (`_PageSize`, 8 KiB): the unit of span and page-allocator bookkeeping. Twice
/// the OS page, so per-page metadata is halved while small spans still fit one page.
pub const PAGE_SIZE: usize = 1 << PAGE_SHIFT;
/// Mask of the offset inside a runtime page.
pub const PAGE_MASK: usize = PAGE_SIZE - 1;

/// log2 of the heap arena size (`logHeapArenaBytes`).
pub const ARENA_SHIFT: usize = 26;
/// Heap arena size (`heapArenaBytes`, 64 MiB): the unit in which address space is reserved and
/// the granularity of the address → metadata index. Large enough that a big heap needs few
/// reservations; small enough that the index over 2^47 bytes is 2^21 entries.
pub const ARENA_SIZE: usize = 1 << ARENA_SHIFT;
/// Pages per arena (`pagesPerArena`, 8192).
pub const PAGES_PER_ARENA: usize = ARENA_SIZE / PAGE_SIZE;

/// Bits of user address space on x86-64/arm64 Linux (the kernel keeps the top half). Go reserves
/// its indexes for 48 bits; Linux user space gives 47, which halves our virtual reservations.
pub const HEAP_ADDR_BITS: usize = 47;
/// Number of arenas the whole user address space holds (the arena index length).
pub const ARENA_INDEX_LEN: usize = 1 << (HEAP_ADDR_BITS - ARENA_SHIFT);

/// Largest size class (`_MaxSmallSize`).
pub const MAX_SMALL_SIZE: usize = 32768;
/// Largest request served from a size class (`maxSmallSize - mallocHeaderSize`). Go keeps the
/// cutoff at 32760 for scan and noscan alike so an 8-byte header always fits; 32761..=32768 are
/// large objects.
pub const MAX_SMALL_REQUEST: usize = MAX_SMALL_SIZE - MALLOC_HEADER_SIZE;
/// Tiny allocator block size (`maxTinySize`): pointer-free requests below this share a block.
pub const TINY_SIZE: usize = 16;
/// Size of the type header in front of scan objects above [`MIN_SIZE_FOR_MALLOC_HEADER`].
pub const MALLOC_HEADER_SIZE: usize = 8;
/// Scan objects up to this size keep their pointer bits in the span's bitmap instead of a
/// header (`minSizeForMallocHeader` = ptrSize × ptrBits = 512): one 64-bit bitmap word covers
/// 512 bytes, so an object's bits never straddle more than two words.
pub const MIN_SIZE_FOR_MALLOC_HEADER: usize = 512;
/// Bytes of the per-span pointer bitmap kept at the end of one-page scan spans: one bit per
/// 8-byte word of the page.
pub const SPAN_HEAP_BITS_SIZE: usize = PAGE_SIZE / 8 / 8;
/// Word size.
pub const PTR_SIZE: usize = 8;
/// The most objects any span holds (the 8-byte class on one page).
pub const MAX_OBJS_PER_SPAN: usize = PAGE_SIZE / 8;
/// Pages per chunk of the page allocator (`pallocChunkPages`, 512 pages = 4 MiB): the leaf of the
/// summary tree and the unit in which the heap grows.
pub const PALLOC_CHUNK_PAGES: usize = 512;
/// Bytes per page-allocator chunk.
pub const PALLOC_CHUNK_BYTES: usize = PALLOC_CHUNK_PAGES * PAGE_SIZE;
/// Addresses below this are never heap pointers (Go's `minLegalPointer`).
pub const MIN_LEGAL_POINTER: usize = 4096;
