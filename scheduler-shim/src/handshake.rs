//! Handshakes: run a closure once for every goroutine, each at a moment when that goroutine is
//! not running user code (Go's `suspendG` + `scanstack` per G, and `forEachP`'s "at the next
//! safepoint"). See the crate docs for the overview.
//!
//! The protocol, all under the scheduler's lock:
//!
//! 1. The caller waits for any earlier handshake to finish, marks every live G `hs_pending`,
//!    publishes the closure and sets the poll word's handshake bit.
//! 2. A G that is `Running` runs the closure itself at its next safepoint: it clears its
//!    `hs_pending` and counts itself in `self_running` under the lock, then runs the closure
//!    unlocked.
//! 3. Any other G (parked at a safepoint, waiting for a P, inside `without_p`, or exited) the
//!    caller claims: it clears `hs_pending` and sets `scan` (Go's `_Gscan` bit), which keeps the
//!    G from becoming `Running`, runs the closure unlocked, then clears `scan`.
//! 4. Once no G is pending the handshake bit is cleared (Gs stop taking the slow path even while
//!    the last runs finish). The caller returns once, moreover, `self_running` is zero; only
//!    then does the closure's borrow end.

use crate::sched::{Guard, Sched};
use crate::state::{GStatus, Handshake, HsFn};
use crate::watch::{self, Watch};

impl<P: Send + 'static, G: Send + Sync + 'static> Sched<P, G> {
    /// Run `f` once for every goroutine that was live when the call began, and return when all
    /// runs are done.
    ///
    /// A goroutine that holds a P and runs runs `f(its payload)` itself, at its next safepoint.
    /// For a goroutine holding no P (inside [`GCtx::without_p`](crate::GCtx::without_p),
    /// waiting for a P, or parked at a safepoint while the world is stopped) the caller runs `f`
    /// on its behalf, while that goroutine is kept from running user code. A goroutine that
    /// exits during the call still gets its run. Goroutines spawned during the call (even by
    /// `f`) are not included. Handshakes run one at a time; a second caller waits.
    ///
    /// Callable from any thread that is not a goroutine holding a P (such a caller would wait
    /// for itself forever; a goroutine can call it inside `without_p`), including while the
    /// world is stopped. If `f` panics, the panic propagates to the caller once no goroutine is
    /// still running `f`; goroutines not yet reached are skipped.
    ///
    /// A goroutine that holds the world stopped ([`GCtx::stop_the_world`](crate::GCtx::stop_the_world))
    /// is running: it runs `f` only at its first safepoint after starting the world, so the
    /// stopper must not wait for this call meanwhile.
    #[doc(alias = "suspendG")]
    #[doc(alias = "forEachP")]
    ///
    /// # Panics
    ///
    /// If called by a goroutine of this scheduler that holds a P (it would wait for itself).
    pub fn handshake(&self, f: &(dyn Fn(&G) + Sync)) {
        if let Some((id, true)) = self.current() {
            panic!(
                "gomem-sched: Sched::handshake called by goroutine {id}, which holds a P of this \
                 scheduler: it would wait for itself forever; call it inside GCtx::without_p"
            );
        }
        let f: *const (dyn Fn(&G) + Sync + '_) = f;
        // SAFETY: only the pointee's lifetime is erased (same layout). The pointer is
        // dereferenced only by `claim_and_run` below and by `run_handshake_self` while this
        // call is in progress: `HsRun`'s drop (run on return and on unwind) waits for every
        // self-run to finish and withdraws the pointer before the borrow of `f` ends.
        let f = unsafe {
            core::mem::transmute::<
                *const (dyn Fn(&G) + Sync + '_),
                *const (dyn Fn(&G) + Sync + 'static),
            >(f)
        };
        let mut run = HsRun::begin(self, f);
        run.claim_and_run();
    }

    /// Lock held, G `id` `Running` with `hs_pending`: run the current handshake on this G, here
    /// on its own thread (step 2). Returns with the lock held again.
    pub(crate) fn run_handshake_self<'a>(
        &'a self,
        mut st: Guard<'a, G>,
        id: u64,
        g: &G,
    ) -> Guard<'a, G> {
        st.clear_hs_pending(id);
        self.publish_poll(&st);
        let hs = st.hs.as_mut().expect("gomem-sched: handshake pending but none in progress");
        hs.self_running += 1;
        let f = hs.f.0;
        drop(st);
        /// Counts the self-run as finished even if `f` panics.
        struct Done<'s, P: Send + 'static, G: Send + Sync + 'static>(&'s Sched<P, G>);
        impl<P: Send + 'static, G: Send + Sync + 'static> Drop for Done<'_, P, G> {
            fn drop(&mut self) {
                let mut st = self.0.lock();
                st.hs.as_mut().expect("gomem-sched: handshake ended early").self_running -= 1;
                self.0.cv.notify_all();
            }
        }
        let done = Done(self);
        // SAFETY: `f` is the closure of the handshake in progress; its caller does not return
        // (nor unwind past `HsRun`) while `self_running > 0`, which we made so under the lock.
        let f = unsafe { &*f };
        f(g);
        drop(done);
        self.lock()
    }
}

/// The caller's side of one handshake. Its drop ends the handshake, also on unwind.
struct HsRun<'a, P: Send + 'static, G: Send + Sync + 'static> {
    sched: &'a Sched<P, G>,
    f: *const (dyn Fn(&G) + Sync),
    /// Gs that had not run the closure at the last look.
    pending: Vec<u64>,
}

impl<'a, P: Send + 'static, G: Send + Sync + 'static> HsRun<'a, P, G> {
    /// Step 1: wait for the previous handshake, then mark every live G pending.
    fn begin(sched: &'a Sched<P, G>, f: *const (dyn Fn(&G) + Sync)) -> Self {
        let mut st = sched.lock();
        while st.hs.is_some() {
            st = sched.wait(st);
        }
        let mut pending = Vec::with_capacity(st.live);
        for (&id, slot) in st.gs.iter_mut() {
            debug_assert!(slot.status != GStatus::Dead && !slot.scan && !slot.hs_pending);
            slot.hs_pending = true;
            pending.push(id);
        }
        let n = pending.len();
        st.hs = Some(Handshake { f: HsFn(f), self_running: 0, pending: n });
        sched.publish_poll(&st);
        sched.cv.notify_all();
        HsRun { sched, f, pending }
    }

    /// Steps 3 and 4: run `f` for every pending G that is not running, until none is left.
    fn claim_and_run(&mut self) {
        let sched = self.sched;
        let mut st = sched.lock();
        let mut w = Watch::start();
        loop {
            // Drop the Gs that ran it themselves (an exited one's slot may be gone).
            self.pending.retain(|id| st.gs.get(id).is_some_and(|s| s.hs_pending));
            let claim =
                self.pending.iter().position(|id| !matches!(st.gs[id].status, GStatus::Running(_)));
            let Some(i) = claim else {
                let hs = st.hs.as_ref().expect("gomem-sched: handshake vanished");
                if self.pending.is_empty() && hs.self_running == 0 {
                    return;
                }
                let pending = &self.pending;
                st = sched.wait_watched(
                    st,
                    &mut w,
                    || "a handshake (stack scan)".to_owned(),
                    |st| watch::running(st, |id| pending.contains(&id), false),
                    watch::SAFEPOINT_HINT,
                );
                continue;
            };
            let id = self.pending.swap_remove(i);
            st.clear_hs_pending(id);
            sched.publish_poll(&st);
            let slot = st.g_mut(id);
            slot.scan = true;
            let g = slot.g.clone();
            drop(st);
            let scan = ScanGuard { sched, id };
            // SAFETY: `self.f` is the closure `Sched::handshake` was given, alive for this call.
            let f = unsafe { &*self.f };
            f(&g);
            drop(scan);
            st = sched.lock();
        }
    }
}

impl<P: Send + 'static, G: Send + Sync + 'static> Drop for HsRun<'_, P, G> {
    /// Step 4's end: withdraw the closure once no G can still be running it.
    fn drop(&mut self) {
        let sched = self.sched;
        let mut st = sched.lock();
        // Normally nothing is left; after a panic in `f`, skip the Gs not yet reached.
        for id in self.pending.drain(..) {
            if st.gs.get(&id).is_some_and(|s| s.hs_pending) {
                st.clear_hs_pending(id);
            }
        }
        st.gs.retain(|_, s| s.status != GStatus::Dead || s.hs_pending || s.scan);
        while st.hs.as_ref().is_some_and(|hs| hs.self_running > 0) {
            st = sched.wait(st);
        }
        st.hs = None;
        sched.publish_poll(&st);
        sched.cv.notify_all();
    }
}

/// Clears a G's `scan` bit after the caller ran the closure for it (also on unwind), and drops
/// the slot of a G that exited meanwhile.
struct ScanGuard<'a, P: Send + 'static, G: Send + Sync + 'static> {
    sched: &'a Sched<P, G>,
    id: u64,
}

impl<P: Send + 'static, G: Send + Sync + 'static> Drop for ScanGuard<'_, P, G> {
    fn drop(&mut self) {
        let mut st = self.sched.lock();
        let slot = st.g_mut(self.id);
        slot.scan = false;
        if slot.status == GStatus::Dead {
            st.gs.remove(&self.id);
        }
        self.sched.cv.notify_all();
    }
}
