//! The Green Tea layout (`HeapConfig::span_inline_marks`): object counts, the pointer bitmap
//! moved before the inline mark block, allocate-black setting mark and scan bits, and the sweep
//! folding the inline marks into the span's.
#![cfg(not(loom))]

mod common;
use common::*;
use gomem_allocator::consts::*;
use gomem_allocator::mheap::{HeapConfig, MHeap};
use gomem_allocator::spaninline::SPAN_INLINE_MARK_BITS_SIZE;
use gomem_allocator::typedesc::{TypeDesc, POINTER};
use std::sync::Arc;

static NODE: TypeDesc = TypeDesc::new(24, 16, &[0b11], "node");
static T4: TypeDesc = TypeDesc::new(32, 32, &[0b1001], "t4");

fn gt_heap() -> Arc<MHeap> {
    MHeap::new(HeapConfig { span_inline_marks: true, clobberfree: true, ..HeapConfig::default() })
        .expect("heap")
}

#[test]
fn object_counts_and_the_block_follow_the_green_tea_layout() {
    let h = gt_heap();
    let mut c = h.new_cache();
    for (size, noscan, want, inline) in [
        (8, false, 1008, false),
        (16, true, 504, true),
        (16, false, 496, true),
        (24, false, 330, true),
        (512, false, 15, true),
        (512, true, 15, true),
        (1024, true, 8, false),
    ] {
        let p = if noscan { c.alloc_noscan(size) } else { c.alloc_array(&POINTER, size / 8) };
        let p = p.unwrap().as_ptr() as usize;
        let (s, _, _) = h.find_object(p).unwrap();
        assert_eq!(s.nelems(), want, "size {size} noscan {noscan}");
        assert_eq!(s.has_inline_marks(), inline, "size {size} noscan {noscan}");
        let arena = h.arena_of(s.base()).unwrap();
        assert_eq!(arena.uses_inline_marks(s.base()), inline, "the page bit");
        if inline {
            assert_eq!(s.inline_mark_bits().class(), s.spanclass(), "init_span wrote the class");
            let reserve = SPAN_INLINE_MARK_BITS_SIZE + if noscan { 0 } else { SPAN_HEAP_BITS_SIZE };
            assert!(s.limit() <= s.base() + PAGE_SIZE - reserve);
            if !noscan {
                assert_eq!(s.heap_bits_addr(), s.base() + PAGE_SIZE - 256);
            }
        }
    }
    // The classic layout of the same heap API keeps the old counts and no block.
    let h2 = heap();
    let mut c2 = h2.new_cache();
    let p = c2.alloc_noscan(16).unwrap().as_ptr() as usize;
    let (s, _, _) = h2.find_object(p).unwrap();
    assert_eq!((s.nelems(), s.has_inline_marks()), (512, false));
    assert!(!h2.arena_of(p).unwrap().uses_inline_marks(p));
}

#[test]
fn pointer_bits_before_the_block_do_not_clobber_each_other() {
    let h = gt_heap();
    let mut c = h.new_cache();
    let mut objs = Vec::new();
    for k in 0..600 {
        let p = if k % 2 == 0 { c.alloc(&T4) } else { c.alloc_array(&NODE, 1) };
        objs.push((k % 2, p.unwrap().as_ptr() as usize));
    }
    for (kind, p) in objs {
        let got = ptr_slots(&h, p);
        assert_eq!(got, if kind == 0 { vec![p, p + 24] } else { vec![p, p + 8] });
        // The block is past the last slot: writing every word of the object leaves it alone.
        let (s, _, _) = h.find_object(p).unwrap();
        let class = s.inline_mark_bits().class();
        // SAFETY: our own 32-byte object.
        unsafe { std::ptr::write_bytes(p as *mut u8, 0xab, 32) };
        assert_eq!(s.inline_mark_bits().class(), class);
        // SAFETY: as above.
        unsafe { std::ptr::write_bytes(p as *mut u8, 0, 32) };
    }
}

#[test]
fn allocate_black_sets_mark_and_scan_bits_and_survives_the_sweep() {
    let h = gt_heap();
    let mut c = h.new_cache();
    let before = c.alloc(&NODE).unwrap().as_ptr() as usize;
    // SAFETY: no other thread uses this heap; the test plays a mark phase until the switch
    // back, followed by the sweep of `cycle`.
    unsafe { h.set_alloc_black(true) };
    let p = c.alloc(&NODE).unwrap().as_ptr() as usize;
    let n = c.alloc_noscan(48).unwrap().as_ptr() as usize;
    // SAFETY: as above.
    unsafe { h.set_alloc_black(false) };
    for a in [p, n] {
        let (s, i, _) = h.find_object(a).unwrap();
        assert!(s.has_inline_marks());
        assert!(s.inline_mark_bits().is_marked(i), "marked in the block");
        assert!(s.inline_mark_bits().is_scanned(i), "and scanned: no span scan takes it");
        assert!(s.is_marked(i));
    }
    let (s, i, _) = h.find_object(before).unwrap();
    assert!(!s.is_marked(i));
    cycle(&h, &mut [&mut c], &[]);
    assert!(h.find_object(p).is_some() && h.find_object(n).is_some());
    let (s, i, _) = h.find_object(p).unwrap();
    assert!(!s.inline_mark_bits().is_marked(i) && !s.inline_mark_bits().is_scanned(i), "reset");
    assert_eq!(s.inline_mark_bits().class(), s.spanclass());
    assert_ledger(&h, &[&c]);
}

#[test]
fn sweep_folds_inline_marks_frees_the_rest_and_counts_agree() {
    let h = gt_heap();
    let mut c = h.new_cache();
    let objs: Vec<usize> = (0..2000).map(|_| c.alloc(&NODE).unwrap().as_ptr() as usize).collect();
    let keep: Vec<usize> = objs.iter().copied().step_by(3).collect();
    for &p in &objs {
        // SAFETY: our own objects; a recognisable value in the scalar word.
        unsafe { *((p + 16) as *mut u64) = p as u64 };
    }
    // Mark as the collector would (through `try_mark`, which goes to the block), and check the
    // span's count sees the inline marks before the sweep.
    h.sweep_all();
    for &a in &keep {
        mark(&h, a);
    }
    let (s0, _, _) = h.find_object(keep[0]).unwrap();
    let in_span = keep.iter().filter(|&&a| a >= s0.base() && a < s0.limit()).count();
    assert_eq!(s0.count_marked(), in_span);
    let before = h.ledger(&[&c]);
    // SAFETY: one thread; the "world" is stopped.
    unsafe { h.advance_sweepgen() };
    c.release_all();
    h.sweep_all();
    let after = h.ledger(&[&c]);
    assert_eq!(after.frees - before.frees, (objs.len() - keep.len()) as u64);
    for &p in &keep {
        // SAFETY: kept objects are still allocated.
        assert_eq!(unsafe { *((p + 16) as *const u64) }, p as u64, "live object changed");
    }
    assert_ledger(&h, &[&c]);
    // The next cycle with nothing marked frees everything: the block was reset.
    cycle(&h, &mut [&mut c], &[]);
    let l = h.ledger(&[&c]);
    assert_eq!(l.frees - after.frees, keep.len() as u64);
}
