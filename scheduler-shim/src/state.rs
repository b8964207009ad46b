//! The scheduler's lock-protected state (Go's `schedt` fields under `sched.lock`): who holds each
//! P, each G's status, the FIFO run queue, and the stop-the-world and handshake bookkeeping. See
//! the crate docs for the overview.
//!
//! Everything in [`State`] is protected by [`Sched`](crate::Sched)'s one lock; nothing here is
//! atomic. The functions that change it never run caller code, so they cannot panic half-way
//! except on a broken invariant.

use std::collections::{BTreeMap, VecDeque};

use crate::sync::{Arc, AtomicBool, Ordering};

/// A goroutine's scheduling status (Go's `g.atomicstatus`, reduced to what a simulated G needs).
///
/// | status        | holds a P | runs user code               | a handshake runs…       |
/// |---------------|-----------|------------------------------|-------------------------|
/// | `Runnable`    | no        | no: waits in the run queue   | on its behalf           |
/// | `Parked(p)`   | yes, `p`  | no: parked at a safepoint, or handed `p` and not yet resumed | on its behalf |
/// | `Running(p)`  | yes, `p`  | yes                          | by the G itself, at its next safepoint |
/// | `Syscall`     | no        | no: runs `without_p`'s closure, or is starting/ending | on its behalf |
/// | `InSyscall(p)`| reserved, `p` | no: runs `syscall`'s closure; `p` waits for it unless sysmon retakes it | on its behalf |
/// | `Dead`        | no        | no: exited; the slot lingers only while a handshake owes it | on its behalf |
///
/// The one transition into `Running` is made by the G's own thread, under the lock, from
/// `Parked`, and only while no stop-the-world is requested and no handshake is scanning the G
/// ([`GSlot::scan`]). Everything the crate promises about "stopped" rests on that rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GStatus {
    Runnable,
    Parked(usize),
    Running(usize),
    Syscall,
    /// In [`GCtx::syscall`](crate::GCtx::syscall) with P `p` kept for it (Go's `_Gsyscall`
    /// with its P in `_Psyscall`): the G runs no user code and counts as stopped, but `p` is
    /// handed to nobody else unless sysmon retakes it.
    InSyscall(usize),
    Dead,
}

impl GStatus {
    /// The P this status holds, if any.
    pub(crate) fn p(self) -> Option<usize> {
        match self {
            GStatus::Parked(p) | GStatus::Running(p) => Some(p),
            _ => None,
        }
    }
}

/// One goroutine's entry in [`State::gs`].
pub(crate) struct GSlot<G> {
    /// The runtime's per-G payload; shared so a handshake or `each_g` can read it off-thread.
    pub(crate) g: Arc<G>,
    pub(crate) status: GStatus,
    /// Go's `_Gscan` bit: a handshake is running on this G's behalf on another thread. While set
    /// the G may not become `Running` (it may still queue for and be handed a P).
    pub(crate) scan: bool,
    /// The current handshake has not yet been run for this G (by anyone).
    pub(crate) hs_pending: bool,
    /// Go's `gp.preempt`: asked to yield its P at its next safepoint. Set only while the G is
    /// `Running` or `Parked`; cleared whenever it leaves its P (yielding, releasing, exiting).
    pub(crate) preempt: bool,
}

/// A borrower's progress through [`WorkerCtx::with_p`](crate::WorkerCtx::with_p) or
/// [`Sched::borrow_p`](crate::Sched::borrow_p).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WStatus {
    /// In the run queue.
    Waiting,
    /// Handed P `p`; waits for any stop-the-world to end before using it.
    Granted(usize),
    /// Uses P `p`'s payload.
    Running(usize),
}

/// One borrower of a P (a worker inside `with_p`, a thread inside `borrow_p`).
pub(crate) struct WSlot {
    pub(crate) status: WStatus,
    /// Which queue it waits in: `None` the run queue (first come, first served with the
    /// goroutines), else its class's queue.
    pub(crate) class: Option<crate::PClass>,
    /// Set (under the lock, Relaxed) when an idle-class borrower should give its P back because
    /// a goroutine or a GC-class borrower waits; read by its [`Yield`](crate::Yield) probe.
    pub(crate) yield_flag: Arc<AtomicBool>,
}

/// Who holds a P.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Owner {
    Idle,
    G(u64),
    Worker(u64),
    /// Kept for G `id`, which is in a syscall (Go's `_Psyscall`).
    Syscall(u64),
}

/// An entry of the run queue: a G or a worker waiting for a P.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ticket {
    G(u64),
    Worker(u64),
}

/// Stop-the-world bookkeeping (Go's `worldsema` plus `sched.gcwaiting`).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Stw {
    /// A stop is requested or in force. At most one at a time.
    pub(crate) active: bool,
    /// The G that requested it, if a G did (its own P counts as stopped).
    pub(crate) stopper: Option<u64>,
}

/// The closure of the handshake in progress, with its lifetime erased.
pub(crate) struct HsFn<G>(pub(crate) *const (dyn Fn(&G) + Sync));

// SAFETY: the pointee is `Sync`, so calling it from any thread is sound while it is alive;
// `Sched::handshake` keeps it alive (does not return or unwind) until no thread can still call it.
unsafe impl<G> Send for HsFn<G> {}

/// The handshake in progress (Go's `forEachP` / `suspendG` bookkeeping, merged).
pub(crate) struct Handshake<G> {
    pub(crate) f: HsFn<G>,
    /// Gs currently running `f` on themselves, at a safepoint.
    pub(crate) self_running: usize,
    /// Gs whose `hs_pending` is set. The poll word's handshake bit is set only while this is
    /// non-zero, so Gs stop taking the slow path as soon as every G has been served or claimed.
    pub(crate) pending: usize,
}

/// The scheduler's lock-protected state.
pub(crate) struct State<G> {
    /// Who holds each P.
    pub(crate) procs: Vec<Owner>,
    /// The idle Ps (owner `Idle`), handed out from the end.
    pub(crate) idle: Vec<usize>,
    /// Gs and workers waiting for a P, served first come, first served.
    pub(crate) runq: VecDeque<Ticket>,
    /// GC-class borrowers waiting for a P: served before `runq` (Go's `findRunnableGCWorker`,
    /// which `schedule` consults before the run queues).
    pub(crate) gcq: VecDeque<u64>,
    /// Idle-class borrowers waiting for a P: served only when `gcq` and `runq` are empty (Go's
    /// idle-priority mark workers, `bgsweep`, `bgscavenge`).
    pub(crate) idleq: VecDeque<u64>,
    /// Gs whose `preempt` is set. The poll word's preempt bit is set while this is non-zero.
    pub(crate) preempt_pending: usize,
    /// Ps whose holder is running: Gs `Running` plus workers `Running`.
    pub(crate) active: usize,
    /// Every G not yet exited, plus exited ones a handshake still owes.
    pub(crate) gs: BTreeMap<u64, GSlot<G>>,
    /// Gs not `Dead`.
    pub(crate) live: usize,
    /// Borrowers inside `with_p` or `borrow_p`.
    pub(crate) workers: BTreeMap<u64, WSlot>,
    pub(crate) stw: Stw,
    pub(crate) hs: Option<Handshake<G>>,
    /// The watchdog's delay (`None`: off); see the `watch` module.
    pub(crate) watch: Option<core::time::Duration>,
    /// Per P, how many times it has been handed to a goroutine (Go's `p.schedtick`): sysmon
    /// measures a goroutine's time slice from the last change.
    pub(crate) schedtick: Vec<u64>,
    /// How many times sysmon has reported a goroutine that does not reach its safepoint.
    pub(crate) unresponsive_reports: u64,
    next_id: u64,
}

/// Bit of the poll word: a stop-the-world is requested or in force.
pub(crate) const POLL_STOP: u32 = 1;
/// Bit of the poll word: a handshake is in progress.
pub(crate) const POLL_HANDSHAKE: u32 = 2;
/// Bit of the poll word: some goroutine is asked to yield its P (its `preempt` is set).
pub(crate) const POLL_PREEMPT: u32 = 4;

impl<G> State<G> {
    /// `nprocs` idle Ps and nothing else.
    pub(crate) fn new(nprocs: usize) -> Self {
        State {
            procs: vec![Owner::Idle; nprocs],
            // Reversed so that P 0 is handed out first.
            idle: (0..nprocs).rev().collect(),
            runq: VecDeque::new(),
            gcq: VecDeque::new(),
            idleq: VecDeque::new(),
            preempt_pending: 0,
            active: 0,
            gs: BTreeMap::new(),
            live: 0,
            workers: BTreeMap::new(),
            stw: Stw::default(),
            hs: None,
            watch: None,
            schedtick: vec![0; nprocs],
            unresponsive_reports: 0,
            next_id: 1,
        }
    }

    /// A fresh id for a G or a worker (never 0, never reused).
    pub(crate) fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// The value the poll word must hold for this state.
    pub(crate) fn poll_bits(&self) -> u32 {
        let mut bits = 0;
        if self.stw.active {
            bits |= POLL_STOP;
        }
        if self.hs.as_ref().is_some_and(|hs| hs.pending > 0) {
            bits |= POLL_HANDSHAKE;
        }
        if self.preempt_pending > 0 {
            bits |= POLL_PREEMPT;
        }
        bits
    }

    /// G `id`'s slot; it must exist.
    pub(crate) fn g_mut(&mut self, id: u64) -> &mut GSlot<G> {
        self.gs.get_mut(&id).expect("gomem-sched: unknown goroutine")
    }

    /// G `id` no longer awaits the current handshake (it runs it, someone runs it for it, or
    /// the handshake gives up on it). The caller publishes the poll word.
    pub(crate) fn clear_hs_pending(&mut self, id: u64) {
        let slot = self.g_mut(id);
        debug_assert!(slot.hs_pending);
        slot.hs_pending = false;
        self.hs.as_mut().expect("gomem-sched: handshake pending but none in progress").pending -= 1;
    }

    /// Hand idle Ps to the waiting, unless a stop-the-world is requested or in force (then Ps
    /// stay idle until it ends): GC-class borrowers first, then the run queue first come first
    /// served, then idle-class borrowers (Go's `schedule`: `findRunnableGCWorker`, the run
    /// queues, then an idle mark worker). A G is handed its P `Parked`: it turns itself
    /// `Running` when its thread wakes.
    ///
    /// When Ps run out while someone waits, ask for them back: every idle-class borrower is
    /// told to yield when anything of higher class waits, and as many running Gs as there are
    /// GC-class borrowers still unserved are asked to yield at their next safepoint
    /// (preempted). The caller publishes the poll word and notifies the condvar
    /// ([`Sched::dispatch`](crate::Sched) does both).
    pub(crate) fn dispatch(&mut self) {
        if self.stw.active {
            return;
        }
        while !self.idle.is_empty() {
            let t = if let Some(id) = self.gcq.pop_front() {
                Ticket::Worker(id)
            } else if let Some(t) = self.runq.pop_front() {
                t
            } else if let Some(id) = self.idleq.pop_front() {
                Ticket::Worker(id)
            } else {
                break;
            };
            let Some(p) = self.idle.pop() else { unreachable!() };
            match t {
                Ticket::G(id) => {
                    let slot = self.g_mut(id);
                    debug_assert_eq!(slot.status, GStatus::Runnable);
                    slot.status = GStatus::Parked(p);
                    self.procs[p] = Owner::G(id);
                    self.schedtick[p] += 1;
                }
                Ticket::Worker(id) => {
                    let w = self.workers.get_mut(&id).expect("gomem-sched: unknown worker");
                    debug_assert_eq!(w.status, WStatus::Waiting);
                    w.status = WStatus::Granted(p);
                    self.procs[p] = Owner::Worker(id);
                }
            }
        }
        if !self.idle.is_empty() || (self.gcq.is_empty() && self.runq.is_empty()) {
            return;
        }
        // Ps ran out with higher-class work waiting: idle-class borrowers yield first.
        let mut yielding = 0;
        for w in self.workers.values() {
            if w.class == Some(crate::PClass::Idle) && w.status != WStatus::Waiting {
                // Relaxed: a hint; the borrower gives the P back under the lock.
                w.yield_flag.store(true, Ordering::Relaxed);
                yielding += 1;
            }
        }
        // GC-class borrowers still unserved preempt running goroutines.
        // INV-SCHED-7: `preempt_pending` counts the Gs already asked.
        let mut need = self.gcq.len().saturating_sub(yielding + self.preempt_pending);
        if need == 0 {
            return;
        }
        for slot in self.gs.values_mut() {
            if need == 0 {
                break;
            }
            // Any G holding a P, running or not yet awake (handed its P, parked by a stop):
            // it passes a safepoint as it resumes. Asking only running ones left a borrower
            // unserved when it queued while the G was between hand-off and wake-up.
            if slot.status.p().is_some() && !slot.preempt {
                slot.preempt = true;
                self.preempt_pending += 1;
                need -= 1;
            }
        }
    }

    /// Ask G `id` to yield its P at its next safepoint (Go's `preemptone`). A no-op unless it
    /// holds a P and is not already asked. The caller publishes the poll word.
    pub(crate) fn request_preempt(&mut self, id: u64) -> bool {
        let Some(slot) = self.gs.get_mut(&id) else { return false };
        if slot.preempt || slot.status.p().is_none() {
            return false;
        }
        slot.preempt = true;
        self.preempt_pending += 1;
        true
    }

    /// G `id` leaves its P (or is told it may keep it): withdraw a preemption request.
    pub(crate) fn clear_preempt(&mut self, id: u64) {
        let slot = self.g_mut(id);
        if slot.preempt {
            slot.preempt = false;
            self.preempt_pending -= 1;
        }
    }

    /// Someone waits for a P that a preempted G should make room for: a G in the run queue or
    /// a GC-class borrower. (Idle-class borrowers never preempt anyone.)
    pub(crate) fn someone_waits(&self) -> bool {
        !self.runq.is_empty() || !self.gcq.is_empty()
    }

    /// Make P `p` idle and hand it on. Its holder has already left `Running` (and fixed
    /// `active`). The caller notifies the condvar.
    pub(crate) fn release_p(&mut self, p: usize) {
        debug_assert_ne!(self.procs[p], Owner::Idle);
        self.procs[p] = Owner::Idle;
        self.idle.push(p);
        self.dispatch();
    }

    /// Check the invariants below, panicking with a description of the first one broken.
    /// O(Gs + Ps); run at every stop and start of the world in debug builds.
    ///
    /// - INV-SCHED-1: every P is exactly one of: idle (owner `Idle`, listed once in `idle`); held by
    ///   a G whose status is `Parked(p)` or `Running(p)`; held by a worker `Granted(p)` or
    ///   `Running(p)`; kept (owner `Syscall(id)`) for a G whose status is `InSyscall(p)`.
    /// - INV-SCHED-2: `active == #{G Running} + #{worker Running}`.
    /// - INV-SCHED-3: `runq` holds exactly the `Runnable` Gs and the `Waiting` first-come
    ///   workers, `gcq` and `idleq` exactly the `Waiting` borrowers of their class, once each.
    /// - INV-SCHED-4: `!stw.active ⇒ idle.is_empty() ∨ (runq, gcq and idleq are empty)` (no P
    ///   idles while someone waits for one, except while the world is stopped).
    /// - INV-SCHED-5: `live == #{G not Dead}`; a `Dead` slot has `hs_pending ∨ scan`.
    /// - INV-SCHED-6: `scan ⇒ status ≠ Running`; `hs_pending ∨ scan ⇒ hs.is_some()`;
    ///   `hs.pending == #{hs_pending}`.
    /// - INV-SCHED-7: `preempt ⇒ the G holds a P`; `preempt_pending == #{preempt}`.
    pub(crate) fn verify(&self) {
        let n = self.procs.len();
        let mut held = vec![0usize; n];
        let mut running = 0;
        let mut live = 0;
        let mut queued = 0;
        for (&id, s) in &self.gs {
            if let Some(p) = s.status.p() {
                assert_eq!(self.procs[p], Owner::G(id), "INV-SCHED-1: G {id} holds P {p}");
                held[p] += 1;
            }
            if let GStatus::InSyscall(p) = s.status {
                assert_eq!(self.procs[p], Owner::Syscall(id), "INV-SCHED-1: G {id} keeps P {p}");
                held[p] += 1;
            }
            match s.status {
                GStatus::Running(_) => running += 1,
                GStatus::Runnable => {
                    queued += 1;
                    let k = self.runq.iter().filter(|&&t| t == Ticket::G(id)).count();
                    assert_eq!(k, 1, "INV-SCHED-3: runnable G {id} queued {k} times");
                }
                GStatus::Dead => {
                    assert!(s.hs_pending || s.scan, "INV-SCHED-5: dead G {id} lingers");
                }
                _ => {}
            }
            if s.status != GStatus::Dead {
                live += 1;
            }
            assert!(!(s.scan && matches!(s.status, GStatus::Running(_))), "INV-SCHED-6: G {id}");
            assert!(!s.preempt || s.status.p().is_some(), "INV-SCHED-7: G {id}");
            assert!(!(s.hs_pending || s.scan) || self.hs.is_some(), "INV-SCHED-6: G {id}");
        }
        for (&id, w) in &self.workers {
            match w.status {
                WStatus::Granted(p) | WStatus::Running(p) => {
                    assert_eq!(self.procs[p], Owner::Worker(id), "INV-SCHED-1: worker {id}");
                    held[p] += 1;
                    running += usize::from(matches!(w.status, WStatus::Running(_)));
                }
                WStatus::Waiting => {
                    queued += 1;
                    let k = match w.class {
                        None => self.runq.iter().filter(|&&t| t == Ticket::Worker(id)).count(),
                        Some(crate::PClass::Gc) => self.gcq.iter().filter(|&&t| t == id).count(),
                        Some(crate::PClass::Idle) => {
                            self.idleq.iter().filter(|&&t| t == id).count()
                        }
                    };
                    assert_eq!(k, 1, "INV-SCHED-3: waiting worker {id} queued {k} times");
                }
            }
        }
        for &p in &self.idle {
            assert_eq!(self.procs[p], Owner::Idle, "INV-SCHED-1: idle P {p} has an owner");
            held[p] += 1;
        }
        assert!(held.iter().all(|&h| h == 1), "INV-SCHED-1: P holders {held:?}");
        assert_eq!(self.active, running, "INV-SCHED-2");
        assert_eq!(self.runq.len() + self.gcq.len() + self.idleq.len(), queued, "INV-SCHED-3");
        let waiting = !self.runq.is_empty() || !self.gcq.is_empty() || !self.idleq.is_empty();
        assert!(self.stw.active || self.idle.is_empty() || !waiting, "INV-SCHED-4");
        assert_eq!(self.live, live, "INV-SCHED-5");
        let pending = self.gs.values().filter(|s| s.hs_pending).count();
        assert_eq!(self.hs.as_ref().map_or(0, |hs| hs.pending), pending, "INV-SCHED-6: pending");
        let preempt = self.gs.values().filter(|s| s.preempt).count();
        assert_eq!(self.preempt_pending, preempt, "INV-SCHED-7");
    }

    /// Check, on top of [`verify`](Self::verify), that the world is stopped: nothing runs but the
    /// stopper G, if the stopper is a G.
    pub(crate) fn verify_stopped(&self) {
        self.verify();
        assert!(self.stw.active, "INV-STW-1: the world is not being stopped");
        for (&id, s) in &self.gs {
            if let GStatus::Running(_) = s.status {
                assert_eq!(Some(id), self.stw.stopper, "INV-STW-1: G {id} runs while stopped");
            }
        }
        assert_eq!(self.active, usize::from(self.stw.stopper.is_some()), "INV-STW-1: active");
    }
}
