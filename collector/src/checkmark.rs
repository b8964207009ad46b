//! `GODEBUG=gccheckmark=1` (Go's `mcheckmark.go`): a second, simple, stop-the-world mark that
//! verifies the concurrent one.
//!
//! At mark termination, with the world stopped, every object reachable from the roots is visited
//! again by a plain depth-first walk with its own visited set (Go uses a separate checkmark
//! bitmap; a hash set is slower and simpler, and this is a debug mode). Any reachable object
//! whose mark bit the concurrent mark did not set means the barrier, the root scan or the
//! termination check lost an object: the collector would free a live object. That is a bug in
//! gomem, so it aborts loudly (`fatal error: gccheckmark: ...`) with the object, its span and the path length from a root.
//!
//! Out of memory: Go allocates its checkmark bitmaps with `persistentalloc`, which throws when
//! the OS refuses. This check degrades instead: if its stack or visited set cannot grow, it
//! says so on stderr (`gccheckmark: out of memory ...`) and gives up for this cycle; the cycle
//! itself is unaffected (the check only reads).

use crate::work::try_room;
use crate::world::Stopped;
use gomem_allocator::MHeap;
use std::collections::HashSet;

/// Re-mark from the roots and abort on any reachable object that is not marked. Returns
/// `false`, having said why on stderr, if it ran out of memory and checked only part of the
/// heap.
pub fn verify(heap: &MHeap, w: &mut dyn Stopped) -> bool {
    let mut stack: Vec<(usize, u32)> = Vec::new();
    let mut room = true;
    let mut push_root = |r: usize| {
        room = room && try_room(heap, &mut stack, "gccheckmark stack");
        if room {
            stack.push((r, 0));
        }
    };
    w.for_each_goroutine_root(&mut push_root);
    w.for_each_global_root(&mut push_root);
    let mut seen: HashSet<usize> = HashSet::new();
    while room {
        let Some((p, depth)) = stack.pop() else { break };
        let Some((span, idx, base)) = heap.find_object(p) else { continue };
        if seen.len() == seen.capacity() {
            let extra = seen.capacity().max(64);
            let bytes = extra * core::mem::size_of::<usize>();
            room = heap.os().injected_failure("gccheckmark set", bytes).is_ok()
                && seen.try_reserve(extra).is_ok();
            if !room {
                break;
            }
        }
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
                if v != 0 && room {
                    room = try_room(heap, &mut stack, "gccheckmark stack");
                    if room {
                        stack.push((v, depth + 1));
                    }
                }
            })
        };
    }
    if !room {
        eprintln!(
            "gccheckmark: out of memory after checking {} objects; this cycle's check is \
             incomplete",
            seen.len()
        );
    }
    room
}
