//! # gomem-sched: the G/M/P model gomem's collector runs beside
//!
//! Go's collector leans on its scheduler for three things: allocation and pointer writes happen
//! only on a P (so per-P caches need no locks), the world can be stopped at safepoints, and
//! each goroutine can be suspended long enough to scan its stack. This crate simulates just
//! that. A [`Sched`] owns GOMAXPROCS Ps, each carrying a payload `P`; each goroutine is a closure
//! on its own OS thread (an M), carrying a payload `G`. The crate knows nothing about memory: the
//! runtime crate puts its `MCache`, mark work buffers and write-barrier buffer in `P`, and each
//! goroutine's precise root stack in `G`.
//!
//! ## A goroutine's life (Go's `newproc`, `schedule`, `entersyscall`, `goexit`)
//!
//! 1. [`Sched::spawn`] queues the G in a first-come-first-served run queue and starts its
//!    thread; the G waits until it is handed an idle P.
//! 2. It runs its closure holding the P, with exclusive use of the P's payload ([`GCtx::p`]),
//!    polling [`GCtx::safepoint`] now and then (the runtime polls on every allocation slow path).
//! 3. Around blocking work it releases the P ([`GCtx::without_p`]) and queues again afterwards,
//!    also when the work panics (a drop guard reacquires the P, so a caught panic finds the G
//!    running with a P as before).
//! 4. When the closure returns or panics it releases the P and exits.
//!
//! ## Stopping the world (Go's `stopTheWorldWithSema`)
//!
//! 1. The stopper sets the stop bit in the poll word and stops handing out Ps.
//! 2. Each G holding a P parks at its next safepoint; a G holding no P is already stopped.
//! 3. When every P is stopped the stopper gets a [`WorldStopped`] token: the only way to reach
//!    every P's payload ([`WorldStopped::each_p`]). Dropping it starts the world: parked Gs
//!    resume and idle Ps go to the run queue.
//!
//! ## Handshakes (Go's `suspendG` for stack scans, `forEachP`)
//!
//! [`Sched::handshake`] runs a closure once per goroutine, never while that goroutine runs user
//! code: a G holding a P runs it itself at its next safepoint; for any other G the caller runs
//! it, holding the G off its P meanwhile (Go's `_Gscan` bit). No global stop is needed. Its
//! protocol is in the `handshake` module.
//!
//! ## Preemption, borrowed Ps and sysmon (Go's `gp.preempt`, `findRunnableGCWorker`, `sysmon`)
//!
//! - A goroutine can be asked to yield its P ([`Sched::preempt`], Go's `preemptone`): at its next
//!   safepoint, if anyone waits for a P, it goes to the back of the run queue and the P goes to
//!   whoever is first in line (Go's `gopreempt_m`). [`GCtx::gosched`] yields by choice (Go's
//!   `Gosched`). There is no asynchronous preemption: a loop without safepoints keeps its P.
//! - Threads that are not goroutines (the collector's) borrow Ps with [`Sched::borrow_p`] in one
//!   of two classes ([`PClass`]): GC-class borrowers are served before any goroutine and, when
//!   every P is taken, preempt a running goroutine to get one (the dedicated and fractional mark
//!   workers); idle-class borrowers get only Ps nobody else wants and are told to give them back
//!   ([`Yield::requested`]) as soon as anyone waits (idle mark workers, the background sweeper,
//!   the scavenger). So at GOMAXPROCS=N at most N threads run mutator or GC work at once.
//! - [`Sched::start_sysmon`] starts the monitor thread: it asks a goroutine that has run on its
//!   P for a whole time slice (10 ms) to yield when others wait, reports on stderr a goroutine
//!   that has ignored that for ten slices, and runs the runtime's periodic duties (the forced
//!   cycle, waking the scavenger) through its tick hook. See the `sysmon` module.
//!
//! ## Misuse that would hang, and the watchdog
//!
//! A goroutine holding a P must not wait for anything a stop-the-world could hold up. The shim
//! knows which goroutine a thread runs, and whether it holds a P, from a thread-local
//! ([`Sched::current`], [`holding_p`]): [`Sched::stop_the_world`] and [`Sched::handshake`] called
//! by a goroutine holding a P of the same scheduler, and [`GHandle::join`] called by any
//! goroutine holding a P, panic with a message saying what to use instead, rather than wait
//! forever. A wait that is merely long (a goroutine spinning without a safepoint) is reported on
//! stderr by the watchdog ([`Sched::set_stw_watch`]), naming the goroutines waited for.
//!
//! ## Vocabulary
//!
//! - **P**: a processor token; GOMAXPROCS of them ([`Sched::gomaxprocs`]).
//! - **holds a P**: a G has been handed P `p` and has not released it. It is either *running*
//!   (executing user code; it alone owns the payload) or *parked* (not executing user code: parked
//!   at a safepoint, or handed the P and not yet woken). A [worker](WorkerCtx::with_p) can hold a
//!   P too, for the length of one closure.
//! - **safepoint**: a point where a running G may be stopped: every [`GCtx::safepoint`] call,
//!   and releasing the P. The fast path is one Relaxed load of the poll word; the slow path takes
//!   the scheduler's lock.
//! - **stopped**: a P is stopped when it is idle or its holder is parked; the **world is
//!   stopped** when every P is, except a goroutine stopper's own ([`GCtx::stop_the_world`]).
//!   A G becomes running again only by its own thread, under the lock, while no stop is
//!   requested and no handshake is scanning it; that one rule is what makes "stopped" hold.
//! - **exclusive owner** of a P's payload: the G that holds the P while it is running
//!   ([`GCtx::p`]), the worker that holds it inside [`WorkerCtx::with_p`], or the holder of the
//!   [`WorldStopped`] token ([`WorldStopped::each_p`]). There is always at most one, and the
//!   payload is touched by no one else, so `P` needs only `Send`.
//! - **a G's payload** is read by other threads only while that G runs no user code: by a
//!   handshake while the G is parked or holds no P (and is held off its P meanwhile), or through
//!   [`WorldStopped::each_g`]. Hence `G: Sync`; any interior mutability is the runtime's affair.
//!
//! Every slow path shares one lock and one condition variable (Go's `sched.lock`; "don't be
//! clever"); only the poll word is read without it. Ownership of a P's payload passes only
//! under that lock, which is what orders one owner's accesses before the next one's.
//!
//! ## Where to read next
//!
//! [`Sched`] (spawning, the safepoint slow paths), [`GCtx`] (the goroutine's side),
//! [`WorldStopped`] (what a stopped world allows), the `state` module (the status table and the
//! invariants [`Sched::verify`] checks), and `tests/loom_sched.rs` for the models of the
//! stop-the-world, P hand-off and handshake protocols.
//!
//! ## Example
//!
//! ```
//! use gomem_sched::Sched;
//!
//! // Two Ps whose payload counts work done on them; goroutine payloads are unused here.
//! let sched = Sched::<u64, ()>::new(vec![0, 0]);
//! let gs: Vec<_> = (0..4)
//!     .map(|_| sched.spawn((), |ctx| for _ in 0..1000 { *ctx.p() += 1; ctx.safepoint(); }))
//!     .collect();
//! let mut world = sched.stop_the_world("example");
//! world.each_p(|_, work| assert!(*work <= 4000)); // no goroutine runs meanwhile
//! world.start_the_world();
//! gs.into_iter().for_each(|g| g.join().unwrap());
//! let mut total = 0;
//! sched.stop_the_world("sum").each_p(|_, work| total += *work);
//! assert_eq!(total, 4000);
//! ```

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::multiple_unsafe_ops_per_block)]

// The layers, bottom first (the `mod` lines below are alphabetical):
// - `sync` (the loom switch);
// - `state` (the lock-protected state) and `current` (the calling thread's G and P);
// - `sched` (the Ps, spawning, the run queue) and `watch` (the stop-the-world watchdog);
// - `stw` (stopping the world), `handshake` (per-goroutine handshakes), `g` (goroutines as
//   their closures see them), `worker` (the collector's background threads and borrowed Ps)
//   and `sysmon` (the monitor thread).
mod current;
mod g;
mod handshake;
mod sched;
mod state;
mod stw;
pub mod sync;
mod sysmon;
mod watch;
mod worker;

pub use current::holding_p;
pub use g::{GCtx, GHandle, Preempt};
pub use sched::Sched;
pub use stw::WorldStopped;
#[cfg(loom)]
pub use sysmon::SysmonModel;
pub use sysmon::{Sysmon, SysmonConfig};
pub use worker::{PClass, Worker, WorkerCtx, Yield};
