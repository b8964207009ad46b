//! `GODEBUG=gccheckmark=1` (Go's `mcheckmark.go`): a second, simple, stop-the-world mark that
//! verifies the concurrent one.
//!
//! At mark termination, with the world stopped, every object reachable from the roots is visited
//! again by a plain depth-first walk with its own visited set (Go uses a separate checkmark
//! bitmap; a hash set is slower and simpler, and this is a debug mode). Any reachable object
//! whose mark bit the concurrent mark did not set means the barrier, the root scan or the
//! termination check lost an object: the collector would free a live object. That is a bug in
//! gomem, so it aborts loudly (`fatal error: gccheckmark: ...`) with the object, its span and the path length from a root.

use crate::world::Stopped;
use gomem_allocator::MHeap;
use std::collections::HashSet;

/// Re-mark from the roots and panic on any reachable object that is not marked.
pub fn verify(heap: &MHeap, w: &mut dyn Stopped) {
    let mut roots = Vec::new();
    w.for_each_goroutine_root(&mut |r| roots.push(r));
    w.for_each_global_root(&mut |r| roots.push(r));
    let mut seen: HashSet<usize> = HashSet::new();
    let mut stack: Vec<(usize, u32)> = Vec::new();
    for r in roots {
        stack.push((r, 0));
    }
    while let Some((p, depth)) = stack.pop() {
        let Some((span, idx, base)) = heap.find_object(p) else { continue };
        if !seen.insert(base) {
            continue;
        }
        if !span.is_marked(idx) {
            gomem_allocator::throw(&format!(
                "gccheckmark: reachable object {base:#x} (span {:#x}, class {}, elemsize {}) at \
                 depth {depth} from a root was not marked by the concurrent mark",
                span.base(),
                span.spanclass().size_class().index(),
                span.elemsize()
            ));
        }
        // SAFETY: the world is stopped, `base` is an allocated (marked) object of an InUse span,
        // and its metadata was written when it was allocated.
        unsafe {
            span.for_each_ptr_slot(base, 0, usize::MAX, |slot| {
                let v = *(slot as *const usize);
                if v != 0 {
                    stack.push((v, depth + 1));
                }
            })
        };
    }
}
