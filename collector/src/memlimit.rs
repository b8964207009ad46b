//! GOMEMLIMIT's plumbing: the memory limit at run time, and the heap's counters fed to the
//! pacer's memory-limit goal (Go's `debug.SetMemoryLimit` and the reads of `mappedReady`,
//! `heapFree` and `totalAlloc - totalFree` in `memoryLimitHeapGoal`). See `docs/scavenger.md`.
//!
//! Go computes the memory-limit goal afresh at every trigger test. gomem's pacer keeps its
//! inputs and the cycle controller mirrors the trigger into an atomic, so while a limit is set
//! each span refill feeds the pacer the heap's current counters and re-mirrors the trigger.

use crate::cycle::Collector;
use crate::pacer::Pacer;
use crate::sync::{lock, try_lock};
use gomem_allocator::scavenge::NO_GOAL;

impl Collector {
    /// Change GOMEMLIMIT at run time (Go's `debug.SetMemoryLimit`, given a value); returns the
    /// old limit. `u64::MAX` removes the limit. The heap goal, the trigger, the scavenger's
    /// goals and allocation-time scavenging follow at once; a limit below what is in use now
    /// starts a cycle at the next allocation check, and wakes the scavenger.
    pub fn set_memory_limit(&self, bytes: u64) -> u64 {
        let mut pacer = lock(&self.gc_controller.pacer);
        self.feed_memory_stats(&mut pacer);
        let old = pacer.set_memory_limit(bytes);
        self.heap.scavenge_state().set_memory_limit(bytes);
        self.publish_trigger(&pacer);
        drop(pacer);
        self.scavenger.kick();
        old
    }

    /// GOMEMLIMIT in force, bytes; `u64::MAX` when there is none.
    pub fn memory_limit(&self) -> u64 {
        self.heap.scavenge_state().memory_limit()
    }

    /// Whether a memory limit is set (one relaxed load).
    pub(crate) fn has_memory_limit(&self) -> bool {
        self.heap.scavenge_state().memory_limit() != NO_GOAL
    }

    /// Give the pacer the memory-limit inputs as the heap has them now (Go reads these atomics
    /// each time it computes the memory-limit goal).
    pub(crate) fn feed_memory_stats(&self, pacer: &mut Pacer) {
        let st = &self.heap.stats;
        pacer.update_memory_stats(st.mapped_ready(), st.heap_free(), st.heap_released());
        pacer.set_heap_alloc(st.heap_alloc());
    }

    /// With a memory limit the goal moves with the memory in use, not only at commits (Go
    /// recomputes it at every trigger test): refresh the pacer's inputs and the mirrored
    /// trigger. Skipped when the pacer is busy; the next refill catches up.
    pub(crate) fn refresh_memory_limit_goal(&self) {
        if let Some(mut pacer) = try_lock(&self.gc_controller.pacer) {
            self.feed_memory_stats(&mut pacer);
            self.mirror_trigger(&pacer);
        }
    }
}
