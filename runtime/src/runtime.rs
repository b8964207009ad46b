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
use gomem_collector::world::{GcPState, Stopped, World};
use gomem_sched::{GHandle, Sched, WorldStopped};
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
    sched: Arc<Sched<PState, GState>>,
    goroutines: Arc<GoroutineLog>,
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

impl Stopped for RtStopped<'_, '_> {
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

impl World for RtWorld {
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
                },
            },
        );
        let procs =
            (0..gomaxprocs).map(|_| PState::new(heap.new_cache(), collector.clone())).collect();
        let globals = Arc::new(Globals::default());
        let sched = Sched::new(procs);
        collector.start(Arc::new(RtWorld {
            sched: sched.clone(),
            globals: globals.clone(),
            events: collector.events().clone(),
        }));
        let goroutines = Arc::new(GoroutineLog::default());
        Ok(Runtime { config, heap, collector, globals, sched, goroutines })
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
        self.sched.spawn(GState::new(), move |cx| {
            let _run = log.map(|(log, spawned)| log.begin(cx.g_id(), spawned));
            let mut m = Mutator::new(cx);
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

    /// The heap.
    pub fn heap(&self) -> &Arc<MHeap> {
        &self.heap
    }

    /// The collector.
    pub fn collector(&self) -> &Arc<Collector> {
        &self.collector
    }

    /// The global roots.
    pub fn globals(&self) -> &Arc<Globals> {
        &self.globals
    }

    /// The scheduler.
    pub fn sched(&self) -> &Arc<Sched<PState, GState>> {
        &self.sched
    }

    /// Run a full collection and wait for it, sweeping included (Go's `runtime.GC`). Works with
    /// GOGC=off. Call it from outside goroutines, or use [`Mutator::gc`] inside one.
    pub fn gc(&self) {
        self.collector.gc();
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
    pub fn free_os_memory(&self) -> u64 {
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
    pub fn read_mem_stats(&self) -> crate::memstats::MemStats {
        crate::memstats::MemStats::read(self)
    }

    /// Stop the world from outside any goroutine (tests, benchmarks).
    pub fn stop_the_world(&self, reason: &'static str) -> WorldStopped<'_, PState, GState> {
        self.sched.stop_the_world(reason)
    }

    /// The heap's ledger with every P's cache (stops the world to read it consistently).
    pub fn ledger(&self) -> gomem_allocator::stats::Ledger {
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
        let mut w = self.sched.stop_the_world("verify_heap");
        w.each_p(|_, p| p.cache.release_all());
        let r = self.heap.verify();
        w.start_the_world();
        r
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.collector.shutdown();
    }
}
