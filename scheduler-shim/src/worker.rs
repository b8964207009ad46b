//! Background workers: threads of the collector's own (mark workers, the background sweeper,
//! the scavenger) that sleep until woken and can borrow a P for a bounded piece of work (Go's
//! `gcBgMarkWorker`, `bgsweep`, `bgscavenge` parked on their notes). See the crate docs for the
//! overview.

use crate::sched::{NotSend, Sched};
use crate::state::{Ticket, WStatus};
use crate::sync::{self, thread, Arc, Condvar, Mutex};

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
        let sched = &*self.sched;
        let id = self.id;
        let mut st = sched.lock();
        st.workers.insert(id, WStatus::Waiting);
        st.runq.push_back(Ticket::Worker(id));
        st.dispatch();
        sched.cv.notify_all();
        let p = loop {
            let stopping = st.stw.active;
            let w = st.workers.get_mut(&id).expect("gomem-sched: worker vanished");
            if let WStatus::Granted(p) = *w {
                if !stopping {
                    *w = WStatus::Running(p);
                    st.active += 1;
                    break p;
                }
            }
            st = sched.wait(st);
        };
        drop(st);
        let _release = Release { sched, id, p };
        // SAFETY: this worker holds P `p` and is `Running`, so it is the payload's exclusive owner
        // (see `PSlot`) until `_release` gives the P back: no G is handed the P meanwhile and a
        // stop-the-world waits for us. The borrow does not outlive `f`.
        sched.procs[p].0.with_mut(|ptr| f(unsafe { &mut *ptr }))
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
        self.sched.cv.notify_all();
    }
}
