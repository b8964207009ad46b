//! The sparse chunk array (Go's `pageAlloc.chunks`) and the index of chunks worth scavenging.
//!
//! Chunk `ci` (the 4 MiB chunk at `ci * PALLOC_CHUNK_BYTES`) keeps its [`PallocData`] at
//! `l1[ci >> 12]`, slot `ci & 4095`. The 2^13 first-level slots cost 64 KiB; a second-level
//! block of 4096 chunks (512 KiB of bitmaps, covering 16 GiB of address space) is reserved and
//! mapped from the OS the first time the heap grows into its range. Blocks are OS memory rather
//! than Rust heap memory so that running out of it is an [`OsError`] the heap can report, as Go's
//! `sysAlloc` is.
//!
//! Each block also holds one "dirty" bit per chunk: set when the chunk has a free page that is not
//! scavenged. A block counts its dirty chunks and a 2^13-bit first-level bitmap marks blocks with
//! any, so the scavenger finds the highest dirty chunk by scanning at most 128 + 64 words, however
//! large and however clean the heap is. Beside the bits, each chunk keeps Go's `scavChunkData`
//! ([`ScavChunkData`], packed in a `u64`): its in-use page count now and at the start of the
//! current scavenge generation, which the background scavenger uses to leave recently dense
//! chunks alone. Together the dirty bit and that record are Go's `scavengeIndex` entry (Go's
//! "has free" flag is the dirty bit).
//!
//! Invariants:
//! - CH-1: every non-`None` slot of `l1` is the address of a `BLOCK_BYTES` reservation made by
//!   [`ChunkMap::ensure`], mapped read-write, used by this map alone and never unmapped before
//!   [`ChunkMap::unmap`]. Fresh blocks read as zero, a valid [`ChunkBlock`].
//! - CH-2: for every chunk, its dirty bit is set iff the page allocator has called
//!   [`ChunkMap::refresh_dirty`] since the chunk's last change and the chunk then had a free,
//!   unscavenged page; `ndirty` is the number of set dirty bits of the block, and the block's
//!   `l1_dirty` bit is `ndirty > 0`. The page allocator refreshes every in-use chunk it changes
//!   and never refreshes chunks outside the heap (their zero bitmaps would look dirty).

use core::num::NonZeroUsize;

use super::bits::{mask_through, PallocData};
use super::scavenge::ScavChunkData;
use super::summary::LOG_PALLOC_CHUNK_BYTES;
use crate::consts::HEAP_ADDR_BITS;
use crate::os::{Os, OsError, OS_PAGE_SIZE};

/// log2 of the first-level length (Go's `pallocChunksL1Bits`).
pub(crate) const CHUNKS_L1_BITS: usize = 13;
/// log2 of a second-level block's length (Go's `pallocChunksL2Bits`: 47 − 22 − 13 = 12).
pub(crate) const CHUNKS_L2_BITS: usize = HEAP_ADDR_BITS - LOG_PALLOC_CHUNK_BYTES - CHUNKS_L1_BITS;
const L1_LEN: usize = 1 << CHUNKS_L1_BITS;
const L2_LEN: usize = 1 << CHUNKS_L2_BITS;
const L2_MASK: usize = L2_LEN - 1;

/// A second-level block: the bitmaps of 4096 consecutive chunks plus their dirty bits and
/// packed [`ScavChunkData`] (zero is a valid record: a freshly grown chunk).
#[repr(C)]
struct ChunkBlock {
    data: [PallocData; L2_LEN],
    dirty: [u64; L2_LEN / 64],
    ndirty: usize,
    scav: [u64; L2_LEN],
}

/// Bytes reserved per block, rounded to whole OS pages.
const BLOCK_BYTES: usize = core::mem::size_of::<ChunkBlock>().next_multiple_of(OS_PAGE_SIZE);

/// Highest set bit at or below bit `i` of a bit array, if any.
fn highest_set_at_or_below(words: &[u64], i: usize) -> Option<usize> {
    let mut w = i / 64;
    let mut x = words[w] & mask_through(i % 64);
    loop {
        if x != 0 {
            return Some(w * 64 + 63 - x.leading_zeros() as usize);
        }
        if w == 0 {
            return None;
        }
        w -= 1;
        x = words[w];
    }
}

/// The two-level chunk array with its dirty-chunk index.
#[derive(Debug)]
pub(crate) struct ChunkMap {
    /// Address of each second-level block (CH-1).
    l1: Box<[Option<NonZeroUsize>]>,
    /// Bit per block: the block has a dirty chunk (CH-2).
    l1_dirty: Box<[u64]>,
}

impl ChunkMap {
    /// An empty map: no blocks yet.
    pub(crate) fn new() -> ChunkMap {
        ChunkMap {
            l1: vec![None; L1_LEN].into_boxed_slice(),
            l1_dirty: vec![0; L1_LEN / 64].into(),
        }
    }

    /// Make sure the block holding chunk `ci` exists, reserving and mapping it if needed.
    pub(crate) fn ensure(&mut self, os: &Os, ci: usize) -> Result<(), OsError> {
        let b = ci >> CHUNKS_L2_BITS;
        if self.l1[b].is_some() {
            return Ok(());
        }
        let addr = os.reserve(BLOCK_BYTES, OS_PAGE_SIZE, None)?;
        // SAFETY: the reservation just made by `os`.
        if let Err(e) = unsafe { os.map(addr, BLOCK_BYTES) } {
            // SAFETY: the reservation was just made by `os` and nothing refers to it.
            unsafe { os.unmap(addr, BLOCK_BYTES) };
            return Err(e);
        }
        self.l1[b] = NonZeroUsize::new(addr);
        Ok(())
    }

    fn block(&self, b: usize) -> Option<&ChunkBlock> {
        let addr = self.l1[b]?.get();
        // SAFETY: CH-1: the address is a live, mapped, zero-initialised-or-written block owned by
        // this map; `&self` rules out a concurrent `&mut` to it.
        Some(unsafe { &*(addr as *const ChunkBlock) })
    }

    fn block_mut(&mut self, b: usize) -> Option<&mut ChunkBlock> {
        let addr = self.l1[b]?.get();
        // SAFETY: CH-1 as in `block`; `&mut self` makes this the only reference to the block.
        Some(unsafe { &mut *(addr as *mut ChunkBlock) })
    }

    /// The bitmaps of chunk `ci`, if its block exists (Go's `pageAlloc.tryChunkOf`).
    pub(crate) fn try_get(&self, ci: usize) -> Option<&PallocData> {
        self.block(ci >> CHUNKS_L2_BITS).map(|blk| &blk.data[ci & L2_MASK])
    }

    /// The bitmaps of chunk `ci` (Go's `pageAlloc.chunkOf`). Panics if the heap never grew there.
    pub(crate) fn get(&self, ci: usize) -> &PallocData {
        self.try_get(ci).unwrap_or_else(|| panic!("page allocator: chunk {ci} is not in the heap"))
    }

    /// The bitmaps of chunk `ci`, writable. Panics if the heap never grew there. The caller must
    /// call [`ChunkMap::refresh_dirty`] after changing them.
    pub(crate) fn get_mut(&mut self, ci: usize) -> &mut PallocData {
        match self.block_mut(ci >> CHUNKS_L2_BITS) {
            Some(blk) => &mut blk.data[ci & L2_MASK],
            None => panic!("page allocator: chunk {ci} is not in the heap"),
        }
    }

    /// Whether chunk `ci` is marked dirty.
    pub(crate) fn is_dirty(&self, ci: usize) -> bool {
        let k = ci & L2_MASK;
        self.block(ci >> CHUNKS_L2_BITS).is_some_and(|blk| (blk.dirty[k / 64] >> (k % 64)) & 1 != 0)
    }

    /// Recompute chunk `ci`'s dirty bit from its bitmaps (CH-2).
    pub(crate) fn refresh_dirty(&mut self, ci: usize) {
        let b = ci >> CHUNKS_L2_BITS;
        let k = ci & L2_MASK;
        let Some(blk) = self.block_mut(b) else {
            panic!("page allocator: chunk {ci} is not in the heap")
        };
        let want = blk.data[k].has_unscavenged_free();
        let bit = 1u64 << (k % 64);
        let have = blk.dirty[k / 64] & bit != 0;
        if want == have {
            return;
        }
        if want {
            blk.dirty[k / 64] |= bit;
            blk.ndirty += 1;
        } else {
            blk.dirty[k / 64] &= !bit;
            blk.ndirty -= 1;
        }
        let any = blk.ndirty > 0;
        if any {
            self.l1_dirty[b / 64] |= 1 << (b % 64);
        } else {
            self.l1_dirty[b / 64] &= !(1 << (b % 64));
        }
    }

    /// Chunk `ci`'s scavenger record. Panics if the heap never grew there.
    pub(crate) fn scav_data(&self, ci: usize) -> ScavChunkData {
        match self.block(ci >> CHUNKS_L2_BITS) {
            Some(blk) => ScavChunkData::unpack(blk.scav[ci & L2_MASK]),
            None => panic!("page allocator: chunk {ci} is not in the heap"),
        }
    }

    /// Update chunk `ci`'s scavenger record with `f`. Panics if the heap never grew there.
    pub(crate) fn update_scav_data(&mut self, ci: usize, f: impl FnOnce(&mut ScavChunkData)) {
        let Some(blk) = self.block_mut(ci >> CHUNKS_L2_BITS) else {
            panic!("page allocator: chunk {ci} is not in the heap")
        };
        let slot = &mut blk.scav[ci & L2_MASK];
        let mut d = ScavChunkData::unpack(*slot);
        f(&mut d);
        *slot = d.pack();
    }

    /// The highest dirty chunk below chunk index `limit`.
    pub(crate) fn highest_dirty_below(&self, limit: usize) -> Option<usize> {
        let mut top = limit.checked_sub(1)?; // highest chunk still to consider
        loop {
            let b = highest_set_at_or_below(&self.l1_dirty, top >> CHUNKS_L2_BITS)?;
            let blk = self.block(b).expect("dirty bit on a missing chunk block");
            let upper = if b == top >> CHUNKS_L2_BITS { top & L2_MASK } else { L2_MASK };
            if let Some(k) = highest_set_at_or_below(&blk.dirty, upper) {
                return Some((b << CHUNKS_L2_BITS) | k);
            }
            // Only the chunks above `top` in this block are dirty: go to lower blocks.
            top = (b << CHUNKS_L2_BITS).checked_sub(1)?;
        }
    }

    /// Number of dirty chunks recorded in the block holding `ci`, and whether the block's
    /// first-level bit is set (for verification).
    pub(crate) fn block_dirty_state(&self, ci: usize) -> Option<(usize, usize, bool)> {
        let b = ci >> CHUNKS_L2_BITS;
        let blk = self.block(b)?;
        let bits = blk.dirty.iter().map(|w| w.count_ones() as usize).sum();
        Some((blk.ndirty, bits, (self.l1_dirty[b / 64] >> (b % 64)) & 1 != 0))
    }

    /// Bytes of OS memory held by second-level blocks.
    pub(crate) fn mapped_bytes(&self) -> usize {
        self.l1.iter().filter(|s| s.is_some()).count() * BLOCK_BYTES
    }

    /// Return every block to the OS.
    ///
    /// # Safety
    /// - `os` is the [`Os`] that every [`ChunkMap::ensure`] call used.
    pub(crate) unsafe fn unmap(self, os: &Os) {
        for addr in self.l1.iter().flatten() {
            // SAFETY: CH-1: the block was reserved by `os` (caller's promise) and `self` is
            // consumed, so no reference into it survives.
            unsafe { os.unmap(addr.get(), BLOCK_BYTES) };
        }
    }
}
