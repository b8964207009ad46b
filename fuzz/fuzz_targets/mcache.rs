//! `MCache`/`MCentral` operation sequences on a real heap, with a shadow list of the live
//! objects: allocations of every kind (tiny, small pointer-free, typed small and header
//! objects, arrays, large; zeroed and uninitialised), frees through a simulated cycle (mark the
//! survivors, start a sweep generation, release the caches, sweep), and two caches as two Ps.
//! Checked: no two live objects overlap; a zeroed allocation reads as zero; every live object
//! keeps the pattern written into it; `find_object` maps each object (and an interior address)
//! back to its slot; the ledger balances and `MHeap::verify` passes at the end.
#![no_main]

use arbitrary::Arbitrary;
use gomem_allocator::mcache::MCache;
use gomem_allocator::mheap::{HeapConfig, MHeap};
use gomem_allocator::typedesc::{TypeDesc, POINTER};
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;

static NODE: TypeDesc = TypeDesc::new(24, 16, &[0b11], "node");
static HEADER: TypeDesc = TypeDesc::new(600, 584, &[0x5555_5555_5555_5555, 0x155], "mixed600");
static BIG: TypeDesc = TypeDesc::new(1024, 1024, &[!0; 2], "[128]*T");

/// A pointer-free size from `n`: tiny, small, up to the largest class, or large, a quarter of
/// the time each.
fn size(n: u16) -> usize {
    let m = (n >> 2) as usize;
    match n & 3 {
        0 => m % 16,
        1 => m % 1024,
        2 => m % 32768,
        _ => 32768 + m % 100_000,
    }
}

#[derive(Arbitrary, Debug)]
enum Kind {
    /// Pointer-free, [`size`] bytes.
    Noscan(u16),
    /// Pointer-free and not cleared first (the caller writes it whole), [`size`] bytes.
    Uninit(u16),
    /// A typed object: a small node, a header object or a 1 KiB pointer block.
    Typed(u8),
    /// An array of `1 + n % 5000` pointers.
    Array(u16),
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// Allocate `1 + n % 32` objects on cache `p`.
    Alloc { p: bool, kind: Kind, n: u8 },
    /// A cycle keeping the live objects whose bit in `keep` (cycled) is set.
    Cycle { keep: u64 },
    /// Give cache `p % 2`'s spans back (as when a P stops).
    Release(bool),
    /// Check the object `i % live`: contents and `find_object` round trip.
    Check(u16),
}

/// A live object: its size as asked, its pattern byte, and the slot `find_object` gave.
struct Obj {
    len: usize,
    seed: u8,
    slot: (usize, usize),
}

fn pattern(addr: usize, len: usize, seed: u8) {
    // SAFETY: `[addr, addr+len)` is a live object this target allocated and owns.
    unsafe { core::ptr::write_bytes(addr as *mut u8, seed, len) };
}

fn check(heap: &MHeap, addr: usize, o: &Obj) {
    // SAFETY: as in `pattern`.
    let bytes = unsafe { core::slice::from_raw_parts(addr as *const u8, o.len) };
    assert!(bytes.iter().all(|&b| b == o.seed), "object {addr:#x} ({} bytes) changed", o.len);
    for probe in [addr, addr + o.len - 1] {
        let (span, idx, base) = heap.find_object(probe).expect("live object not found");
        assert_eq!((span.base(), base), o.slot, "find_object({probe:#x})");
        assert_eq!(span.obj_index(probe), idx);
        assert!(base <= addr && addr + o.len <= base + span.elemsize().max(o.len));
    }
}

/// Allocate one object of `kind` on `c`, check it and add it to `live`.
fn alloc(
    heap: &MHeap,
    c: &mut MCache,
    kind: &Kind,
    live: &mut BTreeMap<usize, Obj>,
    seed: &mut u8,
) {
    let (r, len, zeroed) = match *kind {
        Kind::Noscan(n) => (c.alloc_noscan(size(n)), size(n), true),
        Kind::Uninit(n) => (c.alloc_noscan_uninit(size(n)), size(n), false),
        Kind::Typed(t) => {
            let ty = [&NODE, &HEADER, &BIG][t as usize % 3];
            (c.alloc(ty), ty.size, true)
        }
        Kind::Array(n) => {
            let n = 1 + n as usize % 5000;
            (c.alloc_array(&POINTER, n), 8 * n, true)
        }
    };
    let addr = r.expect("allocation").as_ptr() as usize;
    if len == 0 {
        return;
    }
    if zeroed {
        // SAFETY: `len` bytes were just allocated at `addr`.
        let b = unsafe { core::slice::from_raw_parts(addr as *const u8, len) };
        assert!(b.iter().all(|&x| x == 0), "zeroed allocation of {len} is not zero");
    }
    // No overlap with the nearest live objects on either side.
    if let Some((&a, o)) = live.range(..=addr).next_back() {
        assert!(a + o.len <= addr, "{addr:#x}+{len} overlaps {a:#x}+{}", o.len);
    }
    if let Some((&a, _)) = live.range(addr + 1..).next() {
        assert!(addr + len <= a, "{addr:#x}+{len} overlaps {a:#x}");
    }
    let (span, _, base) = heap.find_object(addr).expect("new object not found");
    *seed = seed.wrapping_add(2) | 1;
    pattern(addr, len, *seed);
    live.insert(addr, Obj { len, seed: *seed, slot: (span.base(), base) });
}

fuzz_target!(|ops: Vec<Op>| {
    let heap = MHeap::new(HeapConfig { clobberfree: true, ..HeapConfig::default() }).expect("heap");
    let mut caches: [MCache; 2] = [heap.new_cache(), heap.new_cache()];
    // Live objects by address (zero-length ones alias one address outside the heap: skipped).
    let mut live: BTreeMap<usize, Obj> = BTreeMap::new();
    let mut seed = 0u8;
    for op in ops.into_iter().take(300) {
        match op {
            Op::Alloc { p, kind, n } => {
                for _ in 0..1 + n % 32 {
                    alloc(&heap, &mut caches[usize::from(p)], &kind, &mut live, &mut seed);
                }
            }
            Op::Cycle { keep } => {
                heap.sweep_all();
                let mut dead = Vec::new();
                for (k, (&addr, _)) in live.iter().enumerate() {
                    if keep >> (k % 64) & 1 == 1 {
                        let (span, idx, _) = heap.find_object(addr).expect("live object");
                        // SAFETY: the target plays the collector on a heap of its own: this is
                        // its mark (one thread, the sweep above finished), and it scans nothing.
                        unsafe { span.try_mark(idx) };
                    } else {
                        dead.push(addr);
                    }
                }
                // SAFETY: one thread, no other cache, nothing sweeping: the world is stopped.
                unsafe { heap.advance_sweepgen() };
                for c in caches.iter_mut() {
                    c.release_all();
                }
                heap.sweep_all();
                for a in dead {
                    live.remove(&a);
                }
                for (&addr, o) in &live {
                    check(&heap, addr, o);
                }
            }
            Op::Release(p) => caches[usize::from(p)].release_all(),
            Op::Check(i) => {
                if let Some((&addr, o)) = live.iter().nth(i as usize % live.len().max(1)) {
                    check(&heap, addr, o);
                }
            }
        }
    }
    for (&addr, o) in &live {
        check(&heap, addr, o);
    }
    let l = heap.ledger(&[&caches[0], &caches[1]]);
    assert!(l.balances(), "ledger does not add up\n{l}");
    for c in caches.iter_mut() {
        c.release_all();
    }
    // SAFETY: one thread, every cache released, nothing allocating or sweeping.
    unsafe { heap.verify() }.expect("heap verifies");
});
