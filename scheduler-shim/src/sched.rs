//! [`Sched`], the scheduler (Go's `schedt` in `runtime2.go`/`proc.go`): the Ps and their
//! payloads, the poll word, the lock, spawning goroutines, and the slow paths a goroutine takes
//! at a safepoint. See the crate docs for the overview.

use core::marker::PhantomData;

use crate::current;
use crate::g::{GCtx, GHandle};
use crate::state::{GSlot, GStatus, State, Ticket};
use crate::stw::{Stopwatch, WorldStopped};
use crate::sync::{self, Arc, AtomicU32, Condvar, Mutex, MutexGuard, Ordering, UnsafeCell};
use crate::watch::{self, Watch};

/// The lock guard of the scheduler's state.
pub(crate) type Guard<'a, G> = MutexGuard<'a, State<G>>;

/// One P's payload.
///
/// Protected by ownership, not by a lock: the payload is touched only by the P's exclusive
/// owner, which is the G holding the P while it is `Running` (through [`GCtx::p`]), the worker
/// holding it inside [`WorkerCtx::with_p`](crate::WorkerCtx::with_p), or the holder of the
/// [`WorldStopped`] token (through [`WorldStopped::each_p`]). Ownership changes hands only under
/// the scheduler's lock, which orders one owner's accesses before the next one's.
pub(crate) struct PSlot<P>(pub(crate) UnsafeCell<P>);

// SAFETY: the payload is accessed only by its exclusive owner (see above), and ownership passes
// between threads only through the scheduler's lock, so sharing a `PSlot` is sharing a `P` that
// is sent from owner to owner: `P: Send` suffices.
unsafe impl<P: Send> Sync for PSlot<P> {}

/// The scheduler: GOMAXPROCS Ps, each carrying a payload `P`, and the goroutines (each with a
/// payload `G`) that run on OS threads while they hold a P.
///
/// It mirrors Go's `schedt` (`runtime/runtime2.go`) and the parts of `runtime/proc.go` that stop
/// the world and suspend goroutines. It knows nothing about memory: the runtime crate puts its
/// per-P caches in `P` and each goroutine's roots in `G`. See the [crate docs](crate) for the
/// protocol and its vocabulary.
#[doc(alias = "schedt")]
pub struct Sched<P: Send + 'static, G: Send + Sync + 'static> {
    /// The poll word: [`POLL_STOP`](crate::state::POLL_STOP) |
    /// [`POLL_HANDSHAKE`](crate::state::POLL_HANDSHAKE). Written only under `state`'s lock, always
    /// to `state.poll_bits()`; read without the lock, Relaxed, by every safepoint.
    pub(crate) poll: AtomicU32,
    pub(crate) procs: Box<[PSlot<P>]>,
    /// The one lock of every slow path (Go's `sched.lock`).
    pub(crate) state: Mutex<State<G>>,
    /// Notified after every change to `state` that someone may be waiting for.
    pub(crate) cv: Condvar,
}

impl<P: Send + 'static, G: Send + Sync + 'static> Sched<P, G> {
    /// A scheduler with one P per payload in `procs`: GOMAXPROCS is `procs.len()`.
    ///
    /// # Panics
    ///
    /// If `procs` is empty (GOMAXPROCS must be at least 1).
    pub fn new(procs: Vec<P>) -> Arc<Self> {
        assert!(!procs.is_empty(), "gomem-sched: GOMAXPROCS must be at least 1, got 0 Ps");
        let n = procs.len();
        Arc::new(Sched {
            poll: AtomicU32::new(0),
            procs: procs.into_iter().map(|p| PSlot(UnsafeCell::new(p))).collect(),
            state: Mutex::new(State::new(n)),
            cv: Condvar::new(),
        })
    }

    /// The number of Ps (Go's `GOMAXPROCS`).
    #[doc(alias = "GOMAXPROCS")]
    pub fn gomaxprocs(&self) -> usize {
        self.procs.len()
    }

    /// The number of Ps running a goroutine right now (the rest are idle, or their goroutine
    /// is in a call without its P). A snapshot: it may change as soon as it is read.
    pub fn running_ps(&self) -> usize {
        self.lock().active
    }

    /// The number of live goroutines: spawned and not yet returned (Go's `NumGoroutine`).
    #[doc(alias = "NumGoroutine")]
    pub fn num_goroutines(&self) -> usize {
        self.lock().live
    }

    /// Spawn a goroutine (Go's `newproc`): a new OS thread (an M) that acquires a P, runs `f`,
    /// releases the P and exits.
    ///
    /// The goroutine joins the run queue before `spawn` returns, so goroutines spawned one after
    /// another from one thread acquire Ps in that order (first come, first served). `g` is its
    /// payload, readable through [`GCtx::g`], handshakes and [`WorldStopped::each_g`].
    ///
    /// If `f` panics, the goroutine still releases its P, and the panic surfaces through
    /// [`GHandle::join`] as `Err`.
    ///
    /// # Panics
    ///
    /// If the OS refuses to start a thread.
    #[doc(alias = "newproc")]
    pub fn spawn<R, F>(self: &Arc<Self>, g: G, f: F) -> GHandle<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut GCtx<P, G>) -> R + Send + 'static,
    {
        let g = Arc::new(g);
        let id = {
            let mut st = self.lock();
            let id = st.next_id();
            let slot = GSlot {
                g: Arc::clone(&g),
                status: GStatus::Runnable,
                scan: false,
                hs_pending: false,
                preempt: false,
            };
            st.gs.insert(id, slot);
            st.live += 1;
            st.runq.push_back(Ticket::G(id));
            self.dispatch(&mut st);
            id
        };
        let sched = Arc::clone(self);
        let body = move || {
            // From here on, `ctx`'s `Drop` releases whatever the G holds, even on a panic.
            let mut ctx = GCtx::new(sched, id, g);
            ctx.start();
            f(&mut ctx)
        };
        match sync::thread::Builder::new().name(format!("g{id}")).spawn(body) {
            Ok(handle) => GHandle { handle, id },
            Err(e) => {
                self.exit_g(id);
                panic!("gomem-sched: cannot start an OS thread for goroutine {id}: {e}");
            }
        }
    }

    /// Stop the world from a thread that does not hold a P (a collector thread, a test):
    /// returns once every P is stopped, that is idle or held by a G parked at a safepoint.
    ///
    /// Goroutines that hold no P (blocked in [`GCtx::without_p`], waiting for a P) do not delay
    /// it; while the world is stopped they cannot acquire one. Only one stop-the-world is in
    /// force at a time: a second caller waits for the first to start the world again.
    ///
    /// Must not be called by a goroutine that holds a P (it would wait for itself forever): use
    /// [`GCtx::stop_the_world`] there.
    #[doc(alias = "stopTheWorld")]
    pub fn stop_the_world(&self, reason: &'static str) -> WorldStopped<'_, P, G> {
        if let Some((id, true)) = self.current() {
            panic!(
                "gomem-sched: Sched::stop_the_world({reason:?}) called by goroutine {id}, which \
                 holds a P of this scheduler: the stop would wait for that goroutine forever; \
                 use GCtx::stop_the_world, or call it inside GCtx::without_p"
            );
        }
        let mut st = self.lock();
        while st.stw.active {
            st = self.wait(st);
        }
        st.stw.active = true;
        st.stw.stopper = None;
        self.publish_poll(&st);
        let clock = Stopwatch::start();
        let mut w = Watch::start();
        while st.active > 0 {
            st = self.wait_watched(
                st,
                &mut w,
                || format!("stop the world ({reason:?})"),
                |st| watch::running(st, |_| true, true),
                watch::SAFEPOINT_HINT,
            );
        }
        if cfg!(debug_assertions) {
            st.verify_stopped();
        }
        drop(st);
        WorldStopped::new(self, reason, clock.elapsed())
    }

    /// Ask goroutine `id` to yield its P at its next safepoint if anyone then waits for a P
    /// (Go's `preemptone`): it goes to the back of the run queue. Returns false if `id` holds
    /// no P (or is unknown, or is asked already). The request lapses when the goroutine
    /// releases its P.
    #[doc(alias = "preemptone")]
    pub fn preempt(&self, id: u64) -> bool {
        let mut st = self.lock();
        let asked = st.request_preempt(id);
        self.publish_poll(&st);
        asked
    }

    /// Wait until every goroutine has finished (Go's `sync.WaitGroup.Wait` over all of them).
    /// Goroutines spawned meanwhile are waited for too. With the [watchdog](Self::set_stw_watch)
    /// on, a wait that lasts longer than its delay names the goroutines still running on stderr.
    ///
    /// # Panics
    ///
    /// If called by a goroutine of this scheduler (it would wait for itself forever).
    pub fn wait_goroutines(&self) {
        if let Some((id, _)) = self.current() {
            panic!(
                "gomem-sched: Sched::wait_goroutines called by goroutine {id} of the same \
                 scheduler: it would wait for itself forever"
            );
        }
        let mut st = self.lock();
        let mut w = Watch::start();
        while st.live > 0 {
            st = self.wait_watched(
                st,
                &mut w,
                || "waiting for the goroutines to finish".to_owned(),
                |st| {
                    let live = st.gs.iter().filter(|(_, s)| s.status != GStatus::Dead);
                    live.map(|(id, s)| format!("goroutine {id} ({:?})", s.status)).collect()
                },
                "every goroutine must return before its runtime is dropped",
            );
        }
    }

    /// Whether the calling thread is a goroutine of this scheduler: `Some((id, holds_p))`
    /// (Go's `getg()`), where `holds_p` says it holds a P (is not inside
    /// [`GCtx::without_p`]). A thread-local read; not meant for hot paths.
    pub fn current(&self) -> Option<(u64, bool)> {
        let me = self as *const Self as *const () as usize;
        current::get().filter(|c| c.sched == me).map(|c| (c.id, c.holds_p))
    }

    /// Check the scheduler's invariants (INV-SCHED-1 to 6 in the state module), panicking on
    /// the first one broken. O(goroutines + Ps), under the scheduler's lock. Debug builds run it
    /// at every stop and start of the world.
    pub fn verify(&self) {
        self.lock().verify();
    }

    // ---- The lock, the condvar and the poll word ----

    pub(crate) fn lock(&self) -> Guard<'_, G> {
        sync::lock(&self.state)
    }

    pub(crate) fn wait<'a>(&'a self, st: Guard<'a, G>) -> Guard<'a, G> {
        sync::wait(&self.cv, st)
    }

    /// Make the poll word agree with the state.
    pub(crate) fn publish_poll(&self, st: &State<G>) {
        // Relaxed: the poll word is only a hint to take the lock. Every decision is re-made
        // under `state`'s lock, which orders the data; a G that reads a stale 0 runs on until a
        // later poll sees the bit (coherence makes that eventual), and a stale non-zero costs one
        // lock round trip.
        self.poll.store(st.poll_bits(), Ordering::Relaxed);
    }

    /// Start the world again: the end of a [`WorldStopped`] token.
    pub(crate) fn start_the_world(&self) {
        let mut st = self.lock();
        debug_assert!(st.stw.active);
        if cfg!(debug_assertions) {
            st.verify_stopped();
        }
        st.stw = Default::default();
        self.dispatch(&mut st);
    }

    /// Hand out idle Ps ([`State::dispatch`]), publish the poll word (dispatch may have asked
    /// goroutines to yield) and wake everyone who may be waiting for a change.
    pub(crate) fn dispatch(&self, st: &mut State<G>) {
        st.dispatch();
        self.publish_poll(st);
        self.cv.notify_all();
    }

    // ---- Goroutine slow paths (called by the G's own thread) ----

    /// The safepoint slow path, lock held, G `id` `Running`: run this G's pending handshake on
    /// itself, park while a stop-the-world requested by someone else is requested or in
    /// force, and honour a preemption request (Go's `gopreempt_m`: when someone waits for a P,
    /// go to the back of the run queue and give the P to the head). Returns with the G
    /// `Running`, no handshake pending on it, no preemption request, and no stop-the-world in
    /// force unless this G is its stopper.
    pub(crate) fn safepoint_locked<'a>(
        &'a self,
        mut st: Guard<'a, G>,
        id: u64,
        g: &G,
    ) -> Guard<'a, G> {
        loop {
            let s = &mut *st;
            let must_park = s.stw.active && s.stw.stopper != Some(id);
            let slot = s.g_mut(id);
            let GStatus::Running(p) = slot.status else {
                unreachable!("gomem-sched: safepoint of a G that is not running")
            };
            if slot.hs_pending {
                st = self.run_handshake_self(st, id, g);
                continue;
            }
            if must_park {
                // Park: this P now counts as stopped.
                slot.status = GStatus::Parked(p);
                s.active -= 1;
                self.cv.notify_all();
                st = self.resume_locked(st, id);
                continue;
            }
            if slot.preempt {
                s.clear_preempt(id);
                if s.someone_waits() {
                    st = self.yield_p(st, id, p);
                    continue;
                }
                self.publish_poll(&st);
            }
            return st;
        }
    }

    /// Lock held, G `id` `Running` on P `p`: go to the back of the run queue, give the P to
    /// whoever is first in line (Go's `goschedImpl`), and wait to be handed a P again. Returns
    /// with the G `Running` (on any P).
    pub(crate) fn yield_p<'a>(&'a self, mut st: Guard<'a, G>, id: u64, p: usize) -> Guard<'a, G> {
        let s = &mut *st;
        s.clear_preempt(id);
        s.g_mut(id).status = GStatus::Runnable;
        s.active -= 1;
        s.runq.push_back(Ticket::G(id));
        s.release_p(p);
        self.dispatch(s);
        self.resume_locked(st, id)
    }

    /// Lock held, G `id` `Runnable` or `Parked`: wait until it has been handed a P, no
    /// stop-the-world is requested and no handshake is scanning it, then make it `Running`.
    /// This is the only transition into `Running`.
    pub(crate) fn resume_locked<'a>(&'a self, mut st: Guard<'a, G>, id: u64) -> Guard<'a, G> {
        loop {
            let s = &mut *st;
            let stopping = s.stw.active;
            let slot = s.g_mut(id);
            if let GStatus::Parked(p) = slot.status {
                if !stopping && !slot.scan {
                    slot.status = GStatus::Running(p);
                    s.active += 1;
                    return st;
                }
            }
            st = self.wait(st);
        }
    }

    /// G `id` leaves: release whatever it holds and mark it `Dead` (Go's `goexit0`). Called by
    /// [`GCtx`]'s `Drop`, so it also runs when the goroutine's closure panics.
    pub(crate) fn exit_g(&self, id: u64) {
        let mut st = self.lock();
        let s = &mut *st;
        s.clear_preempt(id);
        let slot = s.g_mut(id);
        let status = slot.status;
        slot.status = GStatus::Dead;
        let linger = slot.hs_pending || slot.scan;
        match status {
            GStatus::Running(p) => {
                s.active -= 1;
                s.release_p(p);
            }
            GStatus::Parked(p) => s.release_p(p),
            GStatus::Runnable => s.runq.retain(|&t| t != Ticket::G(id)),
            GStatus::Syscall => {}
            GStatus::InSyscall(p) => s.release_p(p),
            GStatus::Dead => unreachable!("gomem-sched: goroutine {id} exits twice"),
        }
        s.live -= 1;
        if !linger {
            s.gs.remove(&id);
        }
        self.dispatch(s);
    }
}

/// Marker making a type neither `Send` nor `Sync` (a goroutine's or worker's context stays on
/// its own thread).
pub(crate) type NotSend = PhantomData<*const ()>;
