//! Background workers: threads of the collector's own (mark workers, the background sweeper,
//! the scavenger) that sleep until woken and can borrow a P for a bounded piece of work (Go's
//! `gcBgMarkWorker`, `bgsweep`, `bgscavenge` parked on their notes). See the crate docs for the
//! overview.

use crate::sched::{NotSend, Sched};
use crate::state::{Ticket, WSlot, WStatus, POLL_STOP};
use crate::sync::{self, thread, Arc, AtomicBool, AtomicU32, Condvar, Mutex, Ordering};

/// A worker's wake-up flags, under its own small lock (not the scheduler's: waking a worker
/// must not contend with goroutines).
#[derive(Default)]
struct Flags {
    /// Woken since `f` last started (wake-ups coalesce).
    wake: bool,
    /// Asked to stop.
    stop: bool,
}

struct Shared {
    flags: Mutex<Flags>,
    cv: Condvar,
}

/// The handle of a background worker thread, made by [`Sched::spawn_worker`]. Dropping it stops
/// the worker, as [`stop`](Self::stop) does.
pub struct Worker {
    shared: Arc<Shared>,
    handle: Option<thread::JoinHandle<()>>,
}

/// What a background worker's closure gets each time it runs.
pub struct WorkerCtx<P: Send + 'static, G: Send + Sync + 'static> {
    sched: Arc<Sched<P, G>>,
    shared: Arc<Shared>,
    id: u64,
    _not_send: NotSend,
}

impl<P: Send + 'static, G: Send + Sync + 'static> Sched<P, G> {
    /// Start a background worker thread named `name` that sleeps until [woken](Worker::wake)
    /// and then runs `f` (several wake-ups before `f` starts coalesce into one run). `f` gets a
    /// [`WorkerCtx`] with which it can borrow a P for a bounded piece of work.
    ///
    /// # Panics
    ///
    /// If the OS refuses to start a thread.
    pub fn spawn_worker<F>(self: &Arc<Self>, name: &str, mut f: F) -> Worker
    where
        F: FnMut(&mut WorkerCtx<P, G>) + Send + 'static,
    {
        let id = self.lock().next_id();
        let shared = Arc::new(Shared { flags: Mutex::new(Flags::default()), cv: Condvar::new() });
        let sched = Arc::clone(self);
        let thread_shared = Arc::clone(&shared);
        let body = move || {
            // The context is made on the worker's own thread: it is not `Send`.
            let mut ctx =
                WorkerCtx { sched, shared: thread_shared, id, _not_send: NotSend::default() };
            loop {
                {
                    let mut fl = sync::lock(&ctx.shared.flags);
                    while !fl.wake && !fl.stop {
                        fl = sync::wait(&ctx.shared.cv, fl);
                    }
                    if fl.stop {
                        return;
                    }
                    fl.wake = false;
                }
                f(&mut ctx);
            }
        };
        let handle = thread::Builder::new()
            .name(name.to_owned())
            .spawn(body)
            .unwrap_or_else(|e| panic!("gomem-sched: cannot start worker thread {name:?}: {e}"));
        Worker { shared, handle: Some(handle) }
    }
}

impl Worker {
    /// Wake the worker: its closure runs once more soon (at most once for any number of wakes
    /// that arrive before it starts).
    pub fn wake(&self) {
        let mut fl = sync::lock(&self.shared.flags);
        fl.wake = true;
        self.shared.cv.notify_all();
    }

    /// Stop the worker: set [`WorkerCtx::should_stop`], wake it, and wait for its thread to
    /// finish its current run and exit.
    ///
    /// # Panics
    ///
    /// Re-raises the worker closure's panic, if it panicked.
    pub fn stop(mut self) {
        if let Some(Err(panic)) = self.shutdown() {
            std::panic::resume_unwind(panic);
        }
    }

    fn shutdown(&mut self) -> Option<std::thread::Result<()>> {
        let handle = self.handle.take()?;
        {
            let mut fl = sync::lock(&self.shared.flags);
            fl.stop = true;
            self.shared.cv.notify_all();
        }
        Some(handle.join())
    }
}

impl Drop for Worker {
    /// Stop the worker as [`stop`](Worker::stop) does, but swallow its panic (a destructor
    /// should not panic).
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

impl<P: Send + 'static, G: Send + Sync + 'static> WorkerCtx<P, G> {
    /// Borrow a P for a bounded piece of work: wait for one in the run queue (first come first
    /// served, with goroutines), and after any stop-the-world in progress ends, run `f` on its
    /// payload, then give the P back (also if `f` panics).
    ///
    /// While `f` runs the P is not stopped: a stop-the-world waits for `f` to return, so keep
    /// the work short. `f` should not block on anything a stopped world would hold up.
    pub fn with_p<R>(&mut self, f: impl FnOnce(&mut P) -> R) -> R {
        self.sched.borrow_as(self.id, None, |p, _| f(p))
    }

    /// The scheduler this worker belongs to.
    pub fn sched(&self) -> &Arc<Sched<P, G>> {
        &self.sched
    }

    /// Whether [`Worker::stop`] (or the handle's drop) has been called: a long-running closure
    /// should check it and return early.
    pub fn should_stop(&self) -> bool {
        sync::lock(&self.shared.flags).stop
    }
}

/// How a P borrowed with [`Sched::borrow_p`] is scheduled against the goroutines (the GC's
/// worker priorities as Go's `schedule` applies them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PClass {
    /// Served before any goroutine waiting for a P, and when every P is taken, a running
    /// goroutine is asked to yield its P at its next safepoint (preempted) to make room: the
    /// dedicated and fractional mark workers (Go's `findRunnableGCWorker`, which `schedule`
    /// tries before the run queues). Such a borrower keeps its P until it returns.
    Gc,
    /// Served only when no goroutine and no GC-class borrower waits, and told to give the P
    /// back ([`Yield::requested`]) as soon as one does: idle mark workers, the background
    /// sweeper, the scavenger (Go's idle-priority mark workers and `goschedIfBusy`).
    Idle,
}

/// A borrower's probe: should it give its P back now? (Returned with the P by
/// [`Sched::borrow_p`].)
#[derive(Clone, Copy)]
pub struct Yield<'a> {
    poll: &'a AtomicU32,
    flag: &'a AtomicBool,
}

impl Yield<'_> {
    /// True when a stop-the-world is requested (it waits for this borrower), or when this is
    /// an idle-class borrower and a goroutine or GC-class borrower waits for a P. One or two
    /// Relaxed loads; a stale answer only delays or hastens the return.
    #[inline]
    pub fn requested(&self) -> bool {
        // Relaxed: hints; the P changes hands under the scheduler's lock.
        self.poll.load(Ordering::Relaxed) & POLL_STOP != 0 || self.flag.load(Ordering::Relaxed)
    }
}

impl core::fmt::Debug for Yield<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Yield").field("requested", &self.requested()).finish()
    }
}

impl<P: Send + 'static, G: Send + Sync + 'static> Sched<P, G> {
    /// Borrow a P from a thread that is not a goroutine holding one (a collector thread): wait
    /// for a P as `class` says, and after any stop-the-world in progress ends, run `f` on the
    /// P's payload with a [`Yield`] probe, then give the P back (also if `f` panics).
    ///
    /// While `f` runs the P is not stopped: a stop-the-world waits for `f` to return, so `f`
    /// must poll [`Yield::requested`] often and return when it is true, and must not block on
    /// anything a stopped world would hold up. A thread must not borrow a second P inside `f`
    /// (with one P it would wait for itself).
    ///
    /// # Panics
    ///
    /// If called by a goroutine of this scheduler that holds a P: it holds one already.
    pub fn borrow_p<R>(&self, class: PClass, f: impl FnOnce(&mut P, Yield<'_>) -> R) -> R {
        if let Some((id, true)) = self.current() {
            panic!(
                "gomem-sched: Sched::borrow_p called by goroutine {id}, which holds a P of this \
                 scheduler already"
            );
        }
        let id = self.lock().next_id();
        self.borrow_as(id, Some(class), f)
    }

    /// Borrow a P as borrower `id` of `class` (`None`: first come first served with the
    /// goroutines), run `f` and give the P back.
    pub(crate) fn borrow_as<R>(
        &self,
        id: u64,
        class: Option<PClass>,
        f: impl FnOnce(&mut P, Yield<'_>) -> R,
    ) -> R {
        let flag = Arc::new(AtomicBool::new(false));
        let mut st = self.lock();
        let slot = WSlot { status: WStatus::Waiting, class, yield_flag: Arc::clone(&flag) };
        st.workers.insert(id, slot);
        match class {
            None => st.runq.push_back(Ticket::Worker(id)),
            Some(PClass::Gc) => st.gcq.push_back(id),
            Some(PClass::Idle) => st.idleq.push_back(id),
        }
        self.dispatch(&mut st);
        let p = loop {
            let stopping = st.stw.active;
            let w = st.workers.get_mut(&id).expect("gomem-sched: worker vanished");
            if let WStatus::Granted(p) = w.status {
                if !stopping {
                    w.status = WStatus::Running(p);
                    st.active += 1;
                    break p;
                }
            }
            st = self.wait(st);
        };
        // An idle-class borrower handed a P while higher-class work still waits (it cannot be:
        // dispatch serves those first) would yield at once; start with a clear flag.
        flag.store(st.someone_waits() && class == Some(PClass::Idle), Ordering::Relaxed);
        drop(st);
        let _release = Release { sched: self, id, p };
        let probe = Yield { poll: &self.poll, flag: &flag };
        // SAFETY: this borrower holds P `p` and is `Running`, so it is the payload's exclusive
        // owner (see `PSlot`) until `_release` gives the P back: no G is handed the P meanwhile
        // and a stop-the-world waits for us. The borrow does not outlive `f`.
        self.procs[p].0.with_mut(|ptr| f(unsafe { &mut *ptr }, probe))
    }
}

/// Gives a worker's borrowed P back, also on unwind.
struct Release<'a, P: Send + 'static, G: Send + Sync + 'static> {
    sched: &'a Sched<P, G>,
    id: u64,
    p: usize,
}

impl<P: Send + 'static, G: Send + Sync + 'static> Drop for Release<'_, P, G> {
    fn drop(&mut self) {
        let mut st = self.sched.lock();
        st.workers.remove(&self.id);
        st.active -= 1;
        st.release_p(self.p);
        self.sched.dispatch(&mut st);
    }
}
