//! The scheduler's lock-protected state (Go's `schedt` fields under `sched.lock`): who holds each
//! P, each G's status, the FIFO run queue, and the stop-the-world and handshake bookkeeping. See
//! the crate docs for the overview.
//!
//! Everything in [`State`] is protected by [`Sched`](crate::Sched)'s one lock; nothing here is
//! atomic. The functions that change it never run caller code, so they cannot panic half-way
//! except on a broken invariant.

use std::collections::{BTreeMap, VecDeque};

use crate::sync::Arc;

/// A goroutine's scheduling status (Go's `g.atomicstatus`, reduced to what a simulated G needs).
///
/// | status        | holds a P | runs user code               | a handshake runs…       |
/// |---------------|-----------|------------------------------|-------------------------|
/// | `Runnable`    | no        | no: waits in the run queue   | on its behalf           |
/// | `Parked(p)`   | yes, `p`  | no: parked at a safepoint, or handed `p` and not yet resumed | on its behalf |
/// | `Running(p)`  | yes, `p`  | yes                          | by the G itself, at its next safepoint |
/// | `Syscall`     | no        | no: runs `without_p`'s closure, or is starting/ending | on its behalf |
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
}

/// A background worker's progress through [`WorkerCtx::with_p`](crate::WorkerCtx::with_p).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WStatus {
    /// In the run queue.
    Waiting,
    /// Handed P `p`; waits for any stop-the-world to end before using it.
    Granted(usize),
    /// Uses P `p`'s payload.
    Running(usize),
}

/// Who holds a P.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Owner {
    Idle,
    G(u64),
    Worker(u64),
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
    /// Ps whose holder is running: Gs `Running` plus workers `Running`.
    pub(crate) active: usize,
    /// Every G not yet exited, plus exited ones a handshake still owes.
    pub(crate) gs: BTreeMap<u64, GSlot<G>>,
    /// Gs not `Dead`.
    pub(crate) live: usize,
    /// Workers inside `with_p`.
    pub(crate) workers: BTreeMap<u64, WStatus>,
    pub(crate) stw: Stw,
    pub(crate) hs: Option<Handshake<G>>,
    /// The watchdog's delay (`None`: off); see the `watch` module.
    pub(crate) watch: Option<core::time::Duration>,
    next_id: u64,
}

/// Bit of the poll word: a stop-the-world is requested or in force.
pub(crate) const POLL_STOP: u32 = 1;
/// Bit of the poll word: a handshake is in progress.
pub(crate) const POLL_HANDSHAKE: u32 = 2;

impl<G> State<G> {
    /// `nprocs` idle Ps and nothing else.
    pub(crate) fn new(nprocs: usize) -> Self {
        State {
            procs: vec![Owner::Idle; nprocs],
            // Reversed so that P 0 is handed out first.
            idle: (0..nprocs).rev().collect(),
            runq: VecDeque::new(),
            active: 0,
            gs: BTreeMap::new(),
            live: 0,
            workers: BTreeMap::new(),
            stw: Stw::default(),
            hs: None,
            watch: None,
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

    /// Hand idle Ps to the run queue's head, first come first served, unless a stop-the-world
    /// is requested or in force (then Ps stay idle until it ends). A G is handed its P `Parked`:
    /// it turns itself `Running` when its thread wakes. The caller notifies the condvar.
    pub(crate) fn dispatch(&mut self) {
        if self.stw.active {
            return;
        }
        while !self.idle.is_empty() {
            let Some(t) = self.runq.pop_front() else { break };
            let Some(p) = self.idle.pop() else { unreachable!() };
            match t {
                Ticket::G(id) => {
                    let slot = self.g_mut(id);
                    debug_assert_eq!(slot.status, GStatus::Runnable);
                    slot.status = GStatus::Parked(p);
                    self.procs[p] = Owner::G(id);
                }
                Ticket::Worker(id) => {
                    let w = self.workers.get_mut(&id).expect("gomem-sched: unknown worker");
                    debug_assert_eq!(*w, WStatus::Waiting);
                    *w = WStatus::Granted(p);
                    self.procs[p] = Owner::Worker(id);
                }
            }
        }
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
    ///   `Running(p)`.
    /// - INV-SCHED-2: `active == #{G Running} + #{worker Running}`.
    /// - INV-SCHED-3: `runq` holds exactly the `Runnable` Gs and the `Waiting` workers, once each.
    /// - INV-SCHED-4: `!stw.active ⇒ idle.is_empty() ∨ runq.is_empty()` (no P idles while
    ///   someone waits for one, except while the world is stopped).
    /// - INV-SCHED-5: `live == #{G not Dead}`; a `Dead` slot has `hs_pending ∨ scan`.
    /// - INV-SCHED-6: `scan ⇒ status ≠ Running`; `hs_pending ∨ scan ⇒ hs.is_some()`;
    ///   `hs.pending == #{hs_pending}`.
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
            assert!(!(s.hs_pending || s.scan) || self.hs.is_some(), "INV-SCHED-6: G {id}");
        }
        for (&id, w) in &self.workers {
            match *w {
                WStatus::Granted(p) | WStatus::Running(p) => {
                    assert_eq!(self.procs[p], Owner::Worker(id), "INV-SCHED-1: worker {id}");
                    held[p] += 1;
                    running += usize::from(matches!(w, WStatus::Running(_)));
                }
                WStatus::Waiting => {
                    queued += 1;
                    let k = self.runq.iter().filter(|&&t| t == Ticket::Worker(id)).count();
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
        assert_eq!(self.runq.len(), queued, "INV-SCHED-3");
        assert!(self.stw.active || self.idle.is_empty() || self.runq.is_empty(), "INV-SCHED-4");
        assert_eq!(self.live, live, "INV-SCHED-5");
        let pending = self.gs.values().filter(|s| s.hs_pending).count();
        assert_eq!(self.hs.as_ref().map_or(0, |hs| hs.pending), pending, "INV-SCHED-6: pending");
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
