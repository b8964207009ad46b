//! Goroutines: [`GCtx`], the running goroutine as its closure sees it (Go's `g` while it runs on
//! an M with a P), and [`GHandle`], the spawner's handle. See the crate docs for the overview.

use crate::current::{self, Current};
use crate::sched::{NotSend, Sched};
use crate::state::{GStatus, Ticket};
use crate::stw::{Stopwatch, WorldStopped};
use crate::sync::{thread, Arc, AtomicU32, Ordering};
use crate::watch::{self, Watch};

/// The handle of a spawned goroutine.
#[derive(Debug)]
pub struct GHandle<R> {
    pub(crate) handle: thread::JoinHandle<R>,
    pub(crate) id: u64,
}

impl<R> GHandle<R> {
    /// Wait for the goroutine to finish: `Ok` with its closure's result, or `Err` with the
    /// panic payload if it panicked. Either way it has released its P by then.
    ///
    /// # Panics
    ///
    /// If the calling thread is a goroutine (of any scheduler) that holds a P: it would keep
    /// the P while it waits, so every stop-the-world of its scheduler would wait for the
    /// joined goroutine too, and with one P the joined goroutine could never run. Join inside
    /// [`GCtx::without_p`] instead (Go's blocking releases the P in the same way). It does not
    /// release the P itself because it cannot know that no borrow of the P's payload
    /// ([`GCtx::p`]) is still alive in the caller.
    pub fn join(self) -> std::thread::Result<R> {
        if let Some(me) = current::holding_p() {
            panic!(
                "gomem-sched: goroutine {me} joins goroutine {} while it holds a P: it would \
                 keep the P while waiting and could deadlock a stop-the-world; join inside \
                 without_p (Mutator::without_p(|| handle.join()))",
                self.id
            );
        }
        self.handle.join()
    }

    /// The goroutine's id (Go's `goid`): unique within its scheduler, never 0.
    pub fn id(&self) -> u64 {
        self.id
    }
}

/// The running goroutine, as its closure sees it: it holds a P whenever user code runs.
///
/// It stays on the goroutine's thread (neither `Send` nor `Sync`). Every method that can
/// give up the P or park takes `&mut self`, so no borrow of the P's payload from [`p`](Self::p)
/// survives a safepoint.
#[doc(alias = "g")]
pub struct GCtx<P: Send + 'static, G: Send + Sync + 'static> {
    sched: Arc<Sched<P, G>>,
    id: u64,
    g: Arc<G>,
    /// The P this G holds while `Running`; `None` inside [`without_p`](Self::without_p).
    p: Option<usize>,
    _not_send: NotSend,
}

impl<P: Send + 'static, G: Send + Sync + 'static> GCtx<P, G> {
    pub(crate) fn new(sched: Arc<Sched<P, G>>, id: u64, g: Arc<G>) -> Self {
        GCtx { sched, id, g, p: None, _not_send: NotSend::default() }
    }

    /// First steps of a new goroutine's thread: wait for a P (the G was queued by `spawn`),
    /// then behave as at a safepoint.
    pub(crate) fn start(&mut self) {
        let sched = Arc::clone(&self.sched);
        self.resume(sched.lock());
    }

    /// Lock held, this G `Runnable` or `Parked`: wait for a P and run (`resume_locked`), record
    /// the P (before anything can unwind: the handshake a safepoint runs may panic), then behave
    /// as at a safepoint.
    fn resume(&mut self, st: crate::sched::Guard<'_, G>) {
        let st = self.sched.resume_locked(st, self.id);
        self.p = st.gs[&self.id].status.p();
        self.set_current(true);
        let st = self.sched.safepoint_locked(st, self.id, &self.g);
        // A preemption at that safepoint may have moved this G to another P.
        self.p = st.gs[&self.id].status.p();
    }

    /// Record in the thread-local that this thread runs this G, with or without a P.
    fn set_current(&self, holds_p: bool) {
        let sched = &*self.sched as *const Sched<P, G> as *const () as usize;
        current::set(Some(Current { sched, id: self.id, holds_p }));
    }

    /// The held P's payload (Go's `getg().m.p.ptr()`), exclusively: no other thread touches it
    /// while this G holds the P and runs.
    #[inline]
    pub fn p(&mut self) -> &mut P {
        let p = self.p.expect("gomem-sched: goroutine without a P");
        // SAFETY: this G holds P `p` and is `Running` (user code runs only then), so it is the
        // payload's exclusive owner (see `PSlot`): a stop-the-world waits for it to park, and
        // no one else is handed the P until it releases it. The borrow lives no longer than
        // `&mut self`, and every call that parks or releases the P takes `&mut self`.
        self.sched.procs[p].0.with_mut(|ptr| unsafe { &mut *ptr })
    }

    /// The held P's payload, as [`p`](GCtx::p), together with a [`Preempt`] probe that tells
    /// long-running work done with the P (a mark assist, say) that a stop-the-world or a
    /// handshake is waiting for this goroutine, so the work can stop early and let the caller
    /// reach its [`safepoint`](GCtx::safepoint) (Go's `gp.preempt` check in `gcDrainN`).
    #[inline]
    pub fn p_and_preempt(&mut self) -> (&mut P, Preempt<'_>) {
        let p = self.p.expect("gomem-sched: goroutine without a P");
        let sched: &Sched<P, G> = &self.sched;
        // SAFETY: as in `p`: this G holds P `p` and runs, so it owns the payload exclusively
        // for as long as `&mut self` is borrowed.
        let payload = sched.procs[p].0.with_mut(|ptr| unsafe { &mut *ptr });
        (payload, Preempt { poll: &sched.poll })
    }

    /// The [`Preempt`] probe alone, through `&self`: for code that cannot reach a safepoint
    /// (it holds only a shared borrow of this context) but wants to know that one is awaited,
    /// so that it can finish early and let its caller poll.
    #[inline]
    pub fn preempt(&self) -> Preempt<'_> {
        Preempt { poll: &self.sched.poll }
    }

    /// The index of the held P, in `0..gomaxprocs()`.
    pub fn p_id(&self) -> usize {
        self.p.expect("gomem-sched: goroutine without a P")
    }

    /// This goroutine's payload.
    pub fn g(&self) -> &G {
        &self.g
    }

    /// This goroutine's id (the same as [`GHandle::id`]).
    pub fn g_id(&self) -> u64 {
        self.id
    }

    /// The scheduler this goroutine runs on.
    pub fn sched(&self) -> &Arc<Sched<P, G>> {
        &self.sched
    }

    /// Safepoint poll (Go's preemption check at function entry). The fast path is one Relaxed
    /// load of the scheduler's poll word; only when it is non-zero (a stop-the-world or a
    /// handshake is in progress) does the slow path take the lock, run a pending handshake on
    /// this G, and park here while someone else's stop-the-world is requested or in force.
    #[inline]
    #[doc(alias = "preemptPark")]
    pub fn safepoint(&mut self) {
        // Relaxed: a hint only; the slow path re-decides everything under the scheduler's lock
        // (see `Sched::publish_poll`).
        if self.sched.poll.load(Ordering::Relaxed) != 0 {
            self.safepoint_slow();
        }
    }

    #[cold]
    #[inline(never)]
    fn safepoint_slow(&mut self) {
        let st = self.sched.lock();
        let st = self.sched.safepoint_locked(st, self.id, &self.g);
        // A preemption may have moved this G to another P.
        self.p = st.gs[&self.id].status.p();
    }

    /// Yield the P if anyone waits for one (Go's `runtime.Gosched`): go to the back of the run
    /// queue and run again when handed a P. Also a safepoint. Returns at once when no goroutine
    /// or GC-class borrower waits.
    #[doc(alias = "Gosched")]
    pub fn gosched(&mut self) {
        let sched = Arc::clone(&self.sched);
        let mut st = sched.lock();
        st = sched.safepoint_locked(st, self.id, &self.g);
        if st.someone_waits() {
            let p = self.p.expect("gomem-sched: goroutine without a P");
            st = sched.yield_p(st, self.id, p);
            st = sched.safepoint_locked(st, self.id, &self.g);
        }
        self.p = st.gs[&self.id].status.p();
    }

    /// Release the P around blocking work (Go's `entersyscall`/`exitsyscall`).
    ///
    /// Releasing the P counts as reaching a safepoint: from then on this G no longer delays a
    /// stop-the-world, and a pending handshake is run on its behalf by the handshake's caller
    /// (possibly while `f` runs). `f` runs with no P. Afterwards the G queues for a P (any P, first come first served) and gets one only
    /// after any stop-the-world in progress ends and any handshake scanning it finishes.
    ///
    /// The G is back on a P when this returns, and also when `f` panics: the unwinding passes
    /// through the same reacquisition (a drop guard), so code that catches the panic finds the
    /// goroutine running with a P, its roots scanned by the safepoint protocol as usual.
    #[doc(alias = "entersyscall")]
    #[doc(alias = "exitsyscall")]
    pub fn without_p<R>(&mut self, f: impl FnOnce() -> R) -> R {
        self.release_p();
        /// Reacquires the P when `f` returns or unwinds (Go's `exitsyscall`).
        struct Reacquire<'a, P: Send + 'static, G: Send + Sync + 'static>(&'a mut GCtx<P, G>);
        impl<P: Send + 'static, G: Send + Sync + 'static> Drop for Reacquire<'_, P, G> {
            fn drop(&mut self) {
                self.0.reacquire_p();
            }
        }
        let _back = Reacquire(self);
        f()
    }

    /// Run `f` as a system call (Go's `entersyscall`/`exitsyscall`): like
    /// [`without_p`](Self::without_p), the G counts as stopped and handshakes run on its behalf
    /// while `f` runs, but its P is kept for it instead of being handed on at once. If `f` returns
    /// before sysmon ([`Sched::start_sysmon`](crate::Sched::start_sysmon)) retakes the P, the G
    /// takes it straight back (Go's `exitsyscallfast`); sysmon retakes it when someone waits and
    /// the call has lasted a sysmon round (20 µs or more), or after 10 ms regardless (Go's
    /// `retake` of `_Psyscall` Ps), and then the G queues for a P on return as `without_p` does.
    ///
    /// Use it for short calls out of the heap (a foreign function, a quick I/O); use `without_p`
    /// for anything that blocks (it is Go's `gopark`: the P goes to a waiter at once). Only
    /// sysmon retakes a kept P: without it running, the P stays kept for the whole call.
    #[doc(alias = "entersyscall")]
    #[doc(alias = "exitsyscall")]
    pub fn syscall<R>(&mut self, f: impl FnOnce() -> R) -> R {
        self.enter_syscall();
        /// Takes the P back when `f` returns or unwinds (Go's `exitsyscall`).
        struct Exit<'a, P: Send + 'static, G: Send + Sync + 'static>(&'a mut GCtx<P, G>);
        impl<P: Send + 'static, G: Send + Sync + 'static> Drop for Exit<'_, P, G> {
            fn drop(&mut self) {
                self.0.exit_syscall();
            }
        }
        let _back = Exit(self);
        f()
    }

    /// `syscall`'s first half: `Running(p)` → `InSyscall(p)`, P `p` kept for this G.
    fn enter_syscall(&mut self) {
        let mut st = self.sched.lock();
        let s = &mut *st;
        let slot = s.g_mut(self.id);
        let GStatus::Running(p) = slot.status else { unreachable!() };
        slot.status = GStatus::InSyscall(p);
        s.clear_preempt(self.id);
        s.active -= 1;
        s.procs[p] = crate::state::Owner::Syscall(self.id);
        // A new slice for sysmon: it measures the call from here.
        s.schedtick[p] += 1;
        self.p = None;
        self.set_current(false);
        // No dispatch: the P is not free. A stop-the-world waiting for this G may now proceed.
        self.sched.cv.notify_all();
    }

    /// `syscall`'s second half: take the kept P back if sysmon has not retaken it (waiting, as
    /// any G does, for a stop-the-world or a scan of this G to end), else queue for a P.
    fn exit_syscall(&mut self) {
        let sched = Arc::clone(&self.sched);
        let mut st = sched.lock();
        let s = &mut *st;
        match s.g_mut(self.id).status {
            GStatus::InSyscall(p) => {
                debug_assert_eq!(s.procs[p], crate::state::Owner::Syscall(self.id));
                s.g_mut(self.id).status = GStatus::Parked(p);
                s.procs[p] = crate::state::Owner::G(self.id);
            }
            GStatus::Syscall => {
                s.g_mut(self.id).status = GStatus::Runnable;
                s.runq.push_back(Ticket::G(self.id));
                sched.dispatch(s);
            }
            other => {
                unreachable!("gomem-sched: goroutine {} leaves a syscall in {other:?}", self.id)
            }
        }
        self.resume(st);
    }

    /// `without_p`'s first half (Go's `entersyscall`): `Running` → `Syscall`, P released.
    fn release_p(&mut self) {
        let mut st = self.sched.lock();
        let s = &mut *st;
        let slot = s.g_mut(self.id);
        let GStatus::Running(p) = slot.status else { unreachable!() };
        slot.status = GStatus::Syscall;
        s.clear_preempt(self.id);
        s.active -= 1;
        s.release_p(p);
        self.p = None;
        self.set_current(false);
        self.sched.dispatch(s);
    }

    /// `without_p`'s second half (Go's `exitsyscall`): queue for a P, wait for it and for any
    /// stop-the-world or scan of this G to end, then pass a safepoint.
    fn reacquire_p(&mut self) {
        let sched = Arc::clone(&self.sched);
        let mut st = sched.lock();
        st.g_mut(self.id).status = GStatus::Runnable;
        st.runq.push_back(Ticket::G(self.id));
        sched.dispatch(&mut st);
        self.resume(st);
    }

    /// Stop the world from this goroutine, which holds a P: its own P counts as stopped, and
    /// [`WorldStopped::each_p`] includes it. The token borrows `self`, so this G cannot poll,
    /// release its P or touch [`p`](Self::p) until the world starts again.
    ///
    /// If another stop-the-world is in progress, this G parks at a safepoint (so that one can
    /// complete) and tries again when it ends. A handshake pending on this G runs while it waits.
    #[doc(alias = "stopTheWorld")]
    pub fn stop_the_world(&mut self, reason: &'static str) -> WorldStopped<'_, P, G> {
        let sched = &*self.sched;
        let mut st = sched.lock();
        // Parks while someone else's stop is requested or in force, runs our handshake, and
        // honours a preemption (which may move this G to another P).
        st = sched.safepoint_locked(st, self.id, &self.g);
        self.p = st.gs[&self.id].status.p();
        debug_assert!(!st.stw.active);
        st.stw.active = true;
        st.stw.stopper = Some(self.id);
        sched.publish_poll(&st);
        // Until the token exists, a panic (in a handshake we run below) must withdraw the stop,
        // or no one would ever start the world again.
        let abort = AbortStop(sched);
        let clock = Stopwatch::start();
        let mut w = Watch::start();
        // Our own P stays `Running` (and counted in `active`): it is ours to stop.
        while st.active > 1 {
            if st.g_mut(self.id).hs_pending {
                st = sched.run_handshake_self(st, self.id, &self.g);
            } else {
                let me = self.id;
                st = sched.wait_watched(
                    st,
                    &mut w,
                    || format!("goroutine {me}'s stop the world ({reason:?})"),
                    |st| watch::running(st, |id| id != me, true),
                    watch::SAFEPOINT_HINT,
                );
            }
        }
        if cfg!(debug_assertions) {
            st.verify_stopped();
        }
        drop(st);
        core::mem::forget(abort);
        WorldStopped::new(sched, reason, clock.elapsed())
    }
}

impl<P: Send + 'static, G: Send + Sync + 'static> Drop for GCtx<P, G> {
    /// The goroutine ends, normally or by a panic: release its P (if it holds one) and leave.
    fn drop(&mut self) {
        current::set(None);
        self.sched.exit_g(self.id);
    }
}

/// Withdraws a goroutine's stop-the-world request if it unwinds before the world is stopped
/// (forgotten once the token is made: from then on the token's drop starts the world).
struct AbortStop<'a, P: Send + 'static, G: Send + Sync + 'static>(&'a Sched<P, G>);

impl<P: Send + 'static, G: Send + Sync + 'static> Drop for AbortStop<'_, P, G> {
    fn drop(&mut self) {
        let mut st = self.0.lock();
        st.stw = Default::default();
        self.0.dispatch(&mut st);
    }
}

/// A cheap probe of whether someone is waiting for this goroutine to reach a safepoint
/// (returned by [`GCtx::p_and_preempt`]; Go's `gp.preempt`).
#[derive(Clone, Copy)]
pub struct Preempt<'a> {
    poll: &'a AtomicU32,
}

impl Preempt<'_> {
    /// True when a stop-the-world or a handshake is pending: work in progress should stop at
    /// its next convenient point and the goroutine should poll its safepoint. One Relaxed load;
    /// a stale answer only delays or hastens that poll.
    #[inline]
    pub fn requested(&self) -> bool {
        self.poll.load(Ordering::Relaxed) != 0
    }
}

impl core::fmt::Debug for Preempt<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Preempt").field("requested", &self.requested()).finish()
    }
}
