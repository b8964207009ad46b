//! The runtime instance: one heap, its collector, GOMAXPROCS processors, the goroutines that run
//! on them.

use crate::config::{Config, GcPercent};
use crate::globals::{Global, Globals};
use crate::mutator::Mutator;
use crate::state::{GState, PState};
use crate::timeline::GoroutineLog;
use gomem_allocator::{AllocError, MHeap};
use gomem_collector::cycle::{Collector, CollectorConfig, DebugModes};
use gomem_collector::events::{GcEventKind, GcEvents};
use gomem_collector::world::{GcPState, PClass, Stopped, World};
use gomem_sched::{GHandle, Sched, Sysmon, SysmonConfig, WorldStopped};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The most processors a runtime accepts. Each P owns an allocation cache and collector state;
/// beyond a few hundred the per-P state costs more than the parallelism gives (Go itself cannot
/// start with much more: its threads run out).
pub const MAX_GOMAXPROCS: usize = 1024;

/// A handle to join a goroutine and get its result.
pub type JoinHandle<R> = GHandle<R>;

/// Why a runtime could not be created.
#[derive(Debug)]
pub enum RuntimeError {
    /// A configuration value was invalid.
    Config(crate::config::ConfigError),
    /// The heap could not reserve its address space.
    Heap(AllocError),
}

impl core::fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RuntimeError::Config(e) => write!(f, "{e}"),
            RuntimeError::Heap(e) => write!(f, "cannot create the heap: {e}"),
        }
    }
}

impl std::error::Error for RuntimeError {}

impl From<crate::config::ConfigError> for RuntimeError {
    fn from(e: crate::config::ConfigError) -> Self {
        RuntimeError::Config(e)
    }
}

/// One gomem runtime: a heap, its collector, its processors and goroutines. Several can live in
/// one process (each with its own heap), which keeps tests hermetic.
pub struct Runtime {
    config: Config,
    heap: Arc<MHeap>,
    collector: Arc<Collector>,
    globals: Arc<Globals>,
    /// Not public: its stop-the-world and workers hand out `&mut PState`, and a P whose state
    /// is replaced would allocate outside the collector's view (see [`PState`]'s invariant).
    /// [`Runtime::gomaxprocs`], [`Runtime::num_goroutines`] and [`Runtime::stop_the_world`]
    /// are the safe views.
    sched: Arc<Sched<PState, GState>>,
    goroutines: Arc<GoroutineLog>,
    /// The scheduler's monitor thread; stopped before the collector when the runtime drops.
    sysmon: Option<Sysmon>,
}

/// The collector's view of this runtime's goroutines (see `gomem_collector::world`).
struct RtWorld {
    sched: Arc<Sched<PState, GState>>,
    globals: Arc<Globals>,
    /// Where each pause is recorded when a timeline is being recorded.
    events: Arc<GcEvents>,
}

struct RtStopped<'a, 'b> {
    w: &'a mut WorldStopped<'b, PState, GState>,
    globals: &'a Globals,
}

// SAFETY: an `RtStopped` exists only inside `RtWorld::stop_the_world`, while the scheduler's
// `WorldStopped` token it borrows proves every goroutine parked or without a P; `each_p` visits
// every P once, and the Ps' caches are the only caches of the heap (made before the collector,
// which then forbids more); the goroutine and global visitors cover every root there is.
unsafe impl Stopped for RtStopped<'_, '_> {
    fn for_each_p(&mut self, f: &mut dyn FnMut(&mut gomem_allocator::MCache, &mut GcPState)) {
        self.w.each_p(|_, p| f(&mut p.cache, &mut p.gc));
    }
    fn for_each_goroutine_root(&mut self, f: &mut dyn FnMut(usize)) {
        // SAFETY: the world is stopped: every G is parked at a safepoint or holds no P.
        self.w.each_g(|g| unsafe { g.for_each_root(&mut *f) });
    }
    fn for_each_global_root(&mut self, f: &mut dyn FnMut(usize)) {
        self.globals.for_each_root(f);
    }
}

// SAFETY: `stop_the_world` stops every goroutine through the scheduler before calling `f` and
// restarts after it (the scheduler's lock orders the collector's switches before any goroutine
// resumes); the handshake reads each goroutine's roots while it is stopped and waits for all;
// a new goroutine starts with an empty root stack; every pointer store of a `Mutator` goes
// through `write_pointer` with its P's state, and every allocation through its P's cache.
unsafe impl World for RtWorld {
    fn stop_the_world(
        &self,
        reason: &'static str,
        f: &mut dyn FnMut(&mut dyn Stopped),
    ) -> Duration {
        let t = Instant::now();
        let mut w = self.sched.stop_the_world(reason);
        f(&mut RtStopped { w: &mut w, globals: &self.globals });
        // The pause ends as the world is started, before the parked goroutines' threads are
        // woken (Go's startTheWorldWithSema also reads the clock before waking any M). Timing
        // after the wake-ups would add the stopper's own wait for a CPU, which the woken
        // goroutines may take from it: that is time the program runs, not a pause.
        let pause = t.elapsed();
        w.start_the_world();
        self.events.record_at(t, GcEventKind::Pause { reason, duration: pause });
        pause
    }
    fn scan_goroutine_roots(&self, f: &(dyn Fn(usize) + Sync)) {
        // SAFETY: the handshake runs this for a G only while that G is stopped at a safepoint
        // or holds no P and cannot reacquire one.
        self.sched.handshake(&|g: &GState| unsafe { g.for_each_root(f) });
    }
    fn scan_global_roots(&self, f: &mut dyn FnMut(usize)) {
        self.globals.for_each_root(f);
    }
    fn gomaxprocs(&self) -> usize {
        self.sched.gomaxprocs()
    }
    fn running_ps(&self) -> usize {
        self.sched.running_ps()
    }
    fn borrow_p(&self, class: PClass, f: &mut dyn FnMut(&mut GcPState, &dyn Fn() -> bool)) {
        let class = match class {
            PClass::Gc => gomem_sched::PClass::Gc,
            PClass::Idle => gomem_sched::PClass::Idle,
        };
        self.sched.borrow_p(class, |p, y| f(&mut p.gc, &|| y.requested()));
    }
}

impl Runtime {
    /// A runtime configured by `config`.
    pub fn new(config: Config) -> Result<Runtime, RuntimeError> {
        if config.gomaxprocs > MAX_GOMAXPROCS {
            return Err(RuntimeError::Config(crate::config::ConfigError {
                var: "GOMAXPROCS",
                value: config.gomaxprocs.to_string(),
                reason: format!("at most {MAX_GOMAXPROCS} processors are supported"),
            }));
        }
        let heap = MHeap::new(config.heap_config()).map_err(RuntimeError::Heap)?;
        let gomaxprocs = config.gomaxprocs.max(1);
        // Every P's cache is made before the collector, which then forbids more.
        let caches: Vec<_> = (0..gomaxprocs).map(|_| heap.new_cache()).collect();
        let collector = Collector::new(
            heap.clone(),
            CollectorConfig {
                gc_percent: match config.gc_percent {
                    GcPercent::Off => -1,
                    GcPercent::Percent(p) => p.min(i32::MAX as u32) as i32,
                },
                memory_limit: config.memory_limit.unwrap_or(u64::MAX),
                gomaxprocs,
                debug: DebugModes {
                    gctrace: config.debug.gctrace,
                    checkmark: config.debug.gccheckmark,
                    stoptheworld: config.debug.gcstoptheworld,
                    scavtrace: config.debug.scavtrace,
                    pacertrace: config.debug.gcpacertrace,
                },
                force_gc_period: config.force_gc_period,
            },
        );
        let procs = caches.into_iter().map(|c| PState::new(c, collector.clone())).collect();
        let globals = Arc::new(Globals::default());
        let sched = Sched::new(procs);
        let watch = config.debug.stwwatch;
        sched.set_stw_watch((watch > 0).then(|| Duration::from_millis(watch.into())));
        collector.start(Arc::new(RtWorld {
            sched: sched.clone(),
            globals: globals.clone(),
            events: collector.events().clone(),
        }));
        // sysmon: time slices, retaking the Ps of long syscalls, and the periodic forced cycle
        // (Go's sysmon waking forcegchelper).
        let c = collector.clone();
        let sysmon = Some(sched.start_sysmon(SysmonConfig {
            time_slice: Duration::from_millis(10),
            tick: Some(Box::new(move || c.sysmon_tick())),
        }));
        let goroutines = Arc::new(GoroutineLog::default());
        Ok(Runtime { config, heap, collector, globals, sched, goroutines, sysmon })
    }

    /// A runtime configured from GOGC, GOMEMLIMIT, GOMAXPROCS and GODEBUG.
    pub fn from_env() -> Result<Runtime, RuntimeError> {
        Runtime::new(Config::from_env()?)
    }

    /// Spawn a goroutine running `f` with its [`Mutator`]; join the handle for its result.
    pub fn go<R, F>(&self, f: F) -> JoinHandle<R>
    where
        R: Send + 'static,
        F: for<'s> FnOnce(&mut Mutator<'s>) -> R + Send + 'static,
    {
        // Recorded only while a timeline is being recorded (one relaxed load otherwise).
        let log = self.goroutines.is_enabled().then(|| (self.goroutines.clone(), Instant::now()));
        // The goroutine owns a reference to the global slots: they outlive it even if the
        // Runtime is dropped first (see `crate::globals`).
        let globals = self.globals.clone();
        let heap = self.heap.clone();
        let wb = self.collector.write_barrier().clone();
        self.sched.spawn(GState::new(), move |cx| {
            let _run = log.map(|(log, spawned)| log.begin(cx.g_id(), spawned));
            let mut m = Mutator::new(cx, &globals, &heap, &wb);
            f(&mut m)
        })
    }

    /// The record of goroutine lifetimes (off unless a [`Recorder`](crate::timeline::Recorder)
    /// runs).
    pub fn goroutine_log(&self) -> &Arc<GoroutineLog> {
        &self.goroutines
    }

    /// Register a global root slot (initially nil).
    pub fn global<T>(&self) -> Global<T> {
        self.globals.register()
    }

    /// The configuration the runtime started with. GOGC and GOMEMLIMIT may have changed since
    /// ([`Runtime::set_gc_percent`], [`Runtime::set_memory_limit`]); [`Runtime::memory_limit`]
    /// and the collector report the values in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The heap: statistics, object lookup, scavenging. What could break the collector's
    /// invariants on it (allocate-black, mark bits, sweep ownership) is `unsafe`
    /// (see `docs/safety.md`); new caches cannot be made (the collector owns the heap).
    pub fn heap(&self) -> &Arc<MHeap> {
        &self.heap
    }

    /// The collector: statistics, GOGC and GOMEMLIMIT, forced cycles. Its barrier switch and
    /// work pool are `unsafe` to use (see `docs/safety.md`).
    pub fn collector(&self) -> &Arc<Collector> {
        &self.collector
    }

    /// The global roots.
    pub fn globals(&self) -> &Arc<Globals> {
        &self.globals
    }

    /// Number of processors (GOMAXPROCS).
    pub fn gomaxprocs(&self) -> usize {
        self.sched.gomaxprocs()
    }

    /// Number of goroutines that have not finished (Go's `runtime.NumGoroutine`).
    pub fn num_goroutines(&self) -> usize {
        self.sched.num_goroutines()
    }

    /// Run a full collection and wait for it, sweeping included (Go's `runtime.GC`). Works with
    /// GOGC=off. Call it from outside goroutines, or use [`Mutator::gc`] inside one.
    ///
    /// # Panics
    ///
    /// If called by a goroutine that holds a P, with a message saying to use [`Mutator::gc`]:
    /// the cycle stops the world, which would wait for that goroutine (forever, if it belongs
    /// to this runtime). Inside [`Mutator::without_p`] it is allowed.
    pub fn gc(&self) {
        self.refuse_on_goroutine("Runtime::gc", "use Mutator::gc");
        self.collector.gc();
    }

    /// Panic if the calling thread is a goroutine holding a P, of this runtime or another: the
    /// blocking call `call` stops the world (or waits for a cycle that does), and a
    /// stop-the-world waits for every goroutine holding a P of its runtime to reach a
    /// safepoint, so on a goroutine of this runtime the call would wait for itself forever, and
    /// on one of another runtime it would hold that runtime's stops up for as long as it waits
    /// (two runtimes doing so to each other deadlock). `instead` says what to use. Called once
    /// per such call: one thread-local read, nowhere near the allocation path.
    fn refuse_on_goroutine(&self, call: &str, instead: &str) {
        let Some(id) = gomem_sched::holding_p() else { return };
        let whose = if self.sched.current().is_some() { "this" } else { "another" };
        panic!(
            "gomem: {call} called by goroutine {id} of {whose} runtime, which holds a P: the \
             stop-the-world it needs would wait for that goroutine (forever, on its own \
             runtime); {instead} (or make the call inside Mutator::without_p)"
        );
    }

    /// Set GOGC at run time (Go's `debug.SetGCPercent`); returns the previous value. Negative
    /// turns the collector off (forced cycles still run).
    pub fn set_gc_percent(&self, percent: i32) -> i32 {
        self.collector.set_gc_percent(percent)
    }

    /// Set GOMEMLIMIT at run time (Go's `debug.SetMemoryLimit`); returns the previous limit.
    /// `None` removes the limit; `Some(0)` is a legal, extreme limit. As at start-up,
    /// `Some(2^63 - 1)` (Go's `math.MaxInt64`) also means no limit.
    ///
    /// The heap goal, the trigger and the scavenger follow at once: a limit below the memory in
    /// use starts a cycle at the next allocation check and makes allocation release free pages
    /// first (see `docs/scavenger.md`).
    ///
    /// # Errors
    ///
    /// A limit above 2^63 - 1 bytes (Go's limit is an `int64`) is a [`ConfigError`] naming
    /// `GOMEMLIMIT` and the value; the limit in force does not change.
    ///
    /// [`ConfigError`]: crate::ConfigError
    pub fn set_memory_limit(
        &self,
        limit: Option<u64>,
    ) -> Result<Option<u64>, crate::config::ConfigError> {
        let bytes = match limit {
            None => u64::MAX,
            Some(n) if n > crate::config::NO_LIMIT => {
                return Err(crate::config::ConfigError {
                    var: "GOMEMLIMIT",
                    value: n.to_string(),
                    reason: format!(
                        "too large: at most {} bytes (2^63-1, which means no limit)",
                        crate::config::NO_LIMIT
                    ),
                })
            }
            Some(crate::config::NO_LIMIT) => u64::MAX,
            Some(n) => n,
        };
        let old = self.collector.set_memory_limit(bytes);
        Ok((old != u64::MAX).then_some(old))
    }

    /// [`Runtime::set_memory_limit`] from GOMEMLIMIT's syntax (`"512MiB"`, `"off"`).
    ///
    /// # Errors
    ///
    /// A malformed or too large value ([`crate::config::parse_memory_limit`]'s errors), or the
    /// empty string (which in the environment means "unset", but as an explicit setting is
    /// more likely a mistake than a request to remove the limit: say `"off"`). The limit in
    /// force does not change.
    pub fn set_memory_limit_str(
        &self,
        limit: &str,
    ) -> Result<Option<u64>, crate::config::ConfigError> {
        if limit.is_empty() {
            return Err(crate::config::ConfigError {
                var: "GOMEMLIMIT",
                value: String::new(),
                reason: "empty: give a size such as 512MiB, or \"off\" for no limit".into(),
            });
        }
        self.set_memory_limit(crate::config::parse_memory_limit(limit)?)
    }

    /// GOMEMLIMIT in force; `None` when there is no limit.
    pub fn memory_limit(&self) -> Option<u64> {
        let l = self.collector.memory_limit();
        (l != u64::MAX).then_some(l)
    }

    /// Return as much memory to the OS as possible (Go's `debug.FreeOSMemory`): a forced
    /// collection with its sweep, every P's cached free pages handed back to the heap, then
    /// every free page released, ignoring the scavenger's goals and pacing. Returns the bytes
    /// released. Call it from outside goroutines (it stops the world).
    ///
    /// Afterwards `HeapReleased` equals `HeapIdle` unless goroutines allocated meanwhile.
    ///
    /// # Panics
    ///
    /// If called by a goroutine that holds a P (it would wait for itself): call it inside
    /// [`Mutator::without_p`] there.
    pub fn free_os_memory(&self) -> u64 {
        self.refuse_on_goroutine("Runtime::free_os_memory", "call it from outside goroutines");
        // Empty spans go straight back to the page heap in this cycle's sweep, and the ones
        // kept by the last sweep are freed by this one (see "Keeping empty spans" in the
        // allocator's docs), so that every free page can be released below.
        self.heap.without_keeping_empty_spans(|| self.collector.gc());
        let mut w = self.sched.stop_the_world("free_os_memory");
        w.each_p(|_, p| p.cache.flush_page_cache());
        w.start_the_world();
        let released = self.heap.scavenge_all() as u64;
        self.collector.trace_forced_scavenge(released);
        released
    }

    /// Go's `runtime.ReadMemStats`: stops the world and reports Go's MemStats fields.
    ///
    /// # Panics
    ///
    /// If called by a goroutine that holds a P (it would wait for itself): call it inside
    /// [`Mutator::without_p`] there.
    pub fn read_mem_stats(&self) -> crate::memstats::MemStats {
        self.refuse_on_goroutine("Runtime::read_mem_stats", "call it from outside goroutines");
        crate::memstats::MemStats::read(self)
    }

    /// Stop the world from outside any goroutine (tests, benchmarks). The world starts again
    /// when the token is dropped or [`StoppedWorld::start_the_world`] is called.
    ///
    /// # Panics
    ///
    /// If called by a goroutine that holds a P (it would wait for itself): call it inside
    /// [`Mutator::without_p`] there.
    pub fn stop_the_world(&self, reason: &'static str) -> StoppedWorld<'_> {
        self.refuse_on_goroutine("Runtime::stop_the_world", "call it from outside goroutines");
        StoppedWorld { w: self.sched.stop_the_world(reason) }
    }

    /// The heap's ledger with every P's cache (stops the world to read it consistently).
    ///
    /// # Panics
    ///
    /// If called by a goroutine that holds a P (it would wait for itself): call it inside
    /// [`Mutator::without_p`] there.
    pub fn ledger(&self) -> gomem_allocator::stats::Ledger {
        self.refuse_on_goroutine("Runtime::ledger", "call it from outside goroutines");
        let mut w = self.sched.stop_the_world("ledger");
        let mut caches: Vec<*const gomem_allocator::MCache> = Vec::new();
        w.each_p(|_, p| caches.push(&p.cache as *const _));
        // SAFETY: the world is stopped, so no P touches its cache while we read; the pointers
        // are to the Ps' payloads, which live as long as the scheduler.
        let refs: Vec<&gomem_allocator::MCache> = caches.iter().map(|&c| unsafe { &*c }).collect();
        let l = self.heap.ledger(&refs);
        drop(refs);
        w.start_the_world();
        l
    }

    /// Check the heap's structure against its counters (the allocator's `MHeap::verify`):
    /// stops the world, returns every P's cached spans to their central lists (as a P does when
    /// it stops) and walks every span. `Err` names the first disagreement. Call it from outside
    /// goroutines, after [`Runtime::gc`] and with no cycle running (the check needs the sweep
    /// finished); it is O(heap) and meant for tests.
    pub fn verify_heap(&self) -> Result<(), String> {
        self.refuse_on_goroutine("Runtime::verify_heap", "call it from outside goroutines");
        let mut w = self.sched.stop_the_world("verify_heap");
        w.each_p(|_, p| p.cache.release_all());
        // No sweeper outside a P either, until the next mark termination (which needs the world).
        self.collector.finish_sweep();
        // SAFETY: the world is stopped (no P allocates or sweeps), every P's cache is released,
        // and the collector's sweep is finished with none able to begin while the world is ours;
        // safe code cannot sweep a collected heap (`MHeap::sweep_one` refuses).
        let r = unsafe { self.heap.verify() };
        w.start_the_world();
        r
    }
}

/// A runtime's world, stopped ([`Runtime::stop_the_world`]): every goroutine is parked at a
/// safepoint or holds no P. Unlike the scheduler's [`WorldStopped`], which it wraps, it shows
/// the Ps' states only read-only (see [`PState`]'s invariant).
#[must_use = "the world starts again as soon as the token is dropped"]
pub struct StoppedWorld<'a> {
    w: WorldStopped<'a, PState, GState>,
}

impl StoppedWorld<'_> {
    /// Visit every P's state, in P order.
    pub fn each_p(&mut self, mut f: impl FnMut(usize, &PState)) {
        self.w.each_p(|i, p| f(i, p));
    }

    /// How long stopping took (see [`WorldStopped::stop_duration`]).
    pub fn stop_duration(&self) -> Duration {
        self.w.stop_duration()
    }

    /// The reason given to [`Runtime::stop_the_world`].
    pub fn reason(&self) -> &'static str {
        self.w.reason()
    }

    /// Start the world again; dropping the token does the same.
    pub fn start_the_world(self) {
        self.w.start_the_world();
    }
}

impl core::fmt::Debug for StoppedWorld<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.w.fmt(f)
    }
}

impl Drop for Runtime {
    /// Wait for every goroutine to return (with `GODEBUG=stwwatch` on, the ones still running
    /// after its delay are named on stderr), then stop the collector's threads. No goroutine
    /// runs once the heap, the globals and the collector are dropped.
    ///
    /// Dropped by one of its own goroutines (the last `Arc<Runtime>` released inside `go`),
    /// the runtime cannot wait for itself: it is leaked instead (heap, collector, globals and
    /// scheduler stay alive and collecting, so that goroutine and the others go on safely), and
    /// the drop panics with a message saying to drop it outside its goroutines, unless the
    /// goroutine is already unwinding.
    fn drop(&mut self) {
        if let Some((id, _)) = self.sched.current() {
            core::mem::forget(self.heap.clone());
            core::mem::forget(self.collector.clone());
            core::mem::forget(self.globals.clone());
            core::mem::forget(self.sched.clone());
            // The leaked runtime keeps its sysmon: its goroutines still need time slices.
            core::mem::forget(self.sysmon.take());
            if !std::thread::panicking() {
                panic!(
                    "gomem: a Runtime was dropped by its own goroutine {id}; it would have to \
                     wait for itself to finish, so it is leaked instead: drop it outside its \
                     goroutines, after joining them"
                );
            }
            return;
        }
        self.sched.wait_goroutines();
        drop(self.sysmon.take());
        self.collector.shutdown();
    }
}
