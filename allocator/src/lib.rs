//! # gomem-allocator: Go 1.27's memory allocator, in Rust
//!
//! This crate is the memory half of gomem: it hands out zeroed, typed objects from a heap of
//! 8 KiB pages carved out of 64 MiB arenas, knows for any address which span and object it
//! belongs to, and can sweep a span given its mark bits. It has no marking policy and no threads
//! of its own; the collector (`gomem-collector`) decides *when* to sweep and *what* is live.
//! Each type and file maps onto a file of Go's runtime, named in its first doc line, so the two
//! can be read side by side.
//!
//! ## Allocation, up the hierarchy (Go's `malloc.go` overview)
//!
//! 1. Round the request up to one of 67 size classes ([`sizeclass`]); pointer-free requests
//!    under 16 bytes are packed into a shared 16-byte tiny block instead.
//! 2. Take the next free slot of the span the P's [`MCache`] holds for that
//!    span class: a count-trailing-zeros on a cached 64-bit window of the span's alloc bitmap,
//!    with no lock and no atomic read-modify-write ([`MSpan::next_free_fast`](mspan::MSpan::next_free_fast)).
//! 3. If the span is full, swap it for one from the class's [`MCentral`](mcentral::MCentral):
//!    a swept span with free slots, else an unswept one it sweeps on the spot.
//! 4. If the central list has nothing, allocate a fresh span of pages from the
//!    [`MHeap`] (through the P's page cache when it can, else under the heap
//!    lock), which grows by mapping more of its arena reservation, and reserves new arenas from
//!    the OS ([`os`]) when that runs out.
//!
//! Objects over 32760 bytes skip steps 1–3 and get a span of their own.
//!
//! ## Sweeping, back down
//!
//! 1. At the end of marking the collector advances the heap's `sweepgen` by 2: every span now
//!    "needs sweeping" and the central lists' swept and unswept halves trade roles.
//! 2. A span is swept by whoever wins the sweepgen CAS: the background sweeper, a P refilling
//!    from a central list, or the P giving back a span it cached before the new generation.
//!    Sweeping turns the mark bits into the alloc bits, so freeing costs nothing per object.
//! 3. A span left with no live object goes back to the page heap (after one cycle on its
//!    central list, see below); free pages are eventually returned to the OS by scavenging
//!    ([`scavenge`]: the mechanism; the collector sets the goals).
//!
//! ## Keeping empty spans
//!
//! Go frees a span to the page heap as soon as a sweep finds it empty, and the next refill of
//! that class allocates a span from the page heap again: a summary update of the page
//! allocator on the way out and on the way in, a span struct taken and initialised, the
//! arena's span map written. In a program that allocates and drops objects of the same sizes
//! cycle after cycle, that round trip is paid for every span every cycle.
//!
//! gomem keeps an emptied small span on its class's swept partial list for one cycle instead
//! (`MCentral::sweep_owned`; the span's `kept_empty` flag). The next refill of that class takes
//! it as it is; a sweep that finds it still empty and uncached frees it as Go would have.
//! While kept, its pages count as free heap memory (`HeapStats::kept_empty`, part of the
//! ledger's `heap_free` and Go's `HeapIdle`), not as in use, so the pacer's and the
//! scavenger's view of the heap (`heap_inuse`, `last_heap_inuse`) is Go's. What differs is
//! that the scavenger cannot release a kept span. So nothing is kept while the heap is meant to
//! shrink: while a memory limit is set, while the scavenger's retained-heap goal is unmet, and
//! during `debug.FreeOSMemory`'s cycle
//! ([`MHeap::without_keeping_empty_spans`](mheap::MHeap::without_keeping_empty_spans)); a
//! program can also turn keeping off ([`MHeap::set_keep_empty_spans`](mheap::MHeap::set_keep_empty_spans)).
//!
//! ## Zeroing
//!
//! Memory fresh from the OS is zero. A span records `needzero` when its pages were used before
//! (tracked per arena by a high-water mark) or when a sweep freed one of its objects; only then
//! is anything cleared.
//!
//! Go clears such a span's slots one at a time, as they are handed out. gomem clears all of a
//! span's free slots at once when a P caches it (`MSpan::zero_free_slots`, called from
//! `MCache::refill`): a run of free slots is one `memset`, a span with no live object is one
//! `memset` of its slots. The bytes cleared are the same (a P allocates from a cached span until
//! it is full), but the allocation fast path then has no zeroing in it at all, and a loop of
//! mixed sizes no longer pays one size-dependent `memset` per object, whose branches the CPU
//! mispredicts (in `alloc_free_loop/gomem/mixed_8-512` that was about a third of the time).
//! ASan builds, which poison freed slots, keep Go's per-slot clearing.
//!
//! Go's `mallocgc` takes a `needzero` argument, and its own callers that overwrite the memory
//! at once (`rawbyteslice`, `rawstring`, `growslice`) pass false for pointer-free memory.
//! gomem's counterpart is `MCache::alloc_noscan_uninit`. Its refills leave a span's free
//! slots as they are, and it keeps those spans in cache slots of their own (one per
//! pointer-free size class), so zeroed allocations only ever take slots from spans that were
//! cleared when cached, and their fast path has no `needzero` test.
//!
//! Runs of 256 bytes or
//! more are cleared with aligned AVX2 stores where the CPU has them (`memclr.rs`), which beat
//! glibc's `rep stosb` on memory that is in L2 or L3.
//!
//! ## Vocabulary
//!
//! - **page**: 8 KiB of heap ([`consts::PAGE_SIZE`]); **OS page**: 4 KiB.
//! - **arena**: a 64 MiB, 64 MiB-aligned reservation unit with its own metadata
//!   ([`arena::HeapArena`]).
//! - **span**: a run of pages, either one large object or an array of equal slots of one span
//!   class ([`mspan::MSpan`]).
//! - **span class**: size class × {scan, noscan}; noscan spans hold pointer-free objects and are
//!   never scanned ([`sizeclass::SpanClass`]).
//! - **owned by a P**: a span cached in that P's `MCache`; only that P allocates from it.
//! - **swept**: a span whose sweepgen equals the heap's (see the table in [`mspan`]).
//! - **currently allocated**: a slot below the span's `freeindex` or whose alloc bit is set.
//!
//! ## Where to read next
//!
//! [`mheap`] (the page heap and its locking), [`mcache`] (the allocation paths), [`mspan`]
//! (bitmaps and sweepgen), [`pagealloc`] (the radix tree of free pages), [`stats`] (the ledger
//! that must add up), and `docs/allocator.md` in the repository for the design as a whole.

#![deny(unsafe_op_in_unsafe_fn)]

// The layers, bottom first (the `mod` lines below are alphabetical):
// - primitives: `sync` (the loom switch), `consts`, `memclr`, `poison` (ASan);
// - the OS and the descriptions: `os` (mapping memory), `error`, `sizeclass`, `typedesc`;
// - page-level structures: `pagealloc`, `fixalloc`, `spanset`, `arena`;
// - spans: `mspan`, `spaninline` (Green Tea's inline mark block);
// - the heap: `mcentral`, `mheap`, `stats` (the ledger), `scavenge`, `procfs`;
// - the P's cache: `mcache`.
pub mod arena;
pub mod consts;
pub mod error;
pub mod fixalloc;
pub mod mcache;
pub mod mcentral;
mod memclr;
pub mod mheap;
pub mod mspan;
pub mod os;
pub mod pagealloc;
mod poison;
pub mod procfs;
pub mod scavenge;
pub mod sizeclass;
pub mod spaninline;
pub mod spanset;
pub mod stats;
pub mod sync;
pub mod typedesc;

pub use error::AllocError;

/// Report a broken heap invariant and abort (Go's `throw`): `fatal error: <msg>` on stderr, then
/// the process ends. Used where continuing would hand out or free live memory wrongly. A panic is
/// not enough there: in a background thread (the sweeper, the collector) it would kill only that
/// thread and leave the program running on a corrupt heap, or waiting forever for it.
#[cold]
pub fn throw(msg: &str) -> ! {
    eprintln!("fatal error: {msg}");
    std::process::abort()
}
pub use mcache::MCache;
pub use mheap::{HeapConfig, MHeap};
pub use mspan::MSpan;
pub use sizeclass::{SizeClass, SpanClass};
pub use typedesc::TypeDesc;
