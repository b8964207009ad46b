//! The runtime instance: one heap, GOMAXPROCS processors, the goroutines that run on them.

use crate::barrier::WriteBarrier;
use crate::config::Config;
use crate::globals::{Global, Globals};
use crate::mutator::Mutator;
use crate::state::{GState, PState};
use gomem_allocator::{AllocError, MHeap};
use gomem_sched::{GHandle, Sched, WorldStopped};
use std::sync::Arc;

/// The most processors a runtime accepts. Each P owns an allocation cache and, with the
/// collector, work buffers; beyond a few hundred the per-P state costs more than the
/// parallelism gives (Go itself cannot start with much more: its threads run out).
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

/// One gomem runtime: a heap, its processors and goroutines. Several can live in one process
/// (each with its own heap), which keeps tests hermetic.
pub struct Runtime {
    config: Config,
    heap: Arc<MHeap>,
    wb: Arc<WriteBarrier>,
    globals: Arc<Globals>,
    sched: Arc<Sched<PState, GState>>,
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
        let wb = Arc::new(WriteBarrier::default());
        let procs = (0..config.gomaxprocs.max(1))
            .map(|_| PState::new(heap.new_cache(), wb.clone()))
            .collect();
        Ok(Runtime {
            config,
            heap,
            wb,
            globals: Arc::new(Globals::default()),
            sched: Sched::new(procs),
        })
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
        self.sched.spawn(GState::new(), move |cx| {
            let mut m = Mutator::new(cx);
            f(&mut m)
        })
    }

    /// Register a global root slot (initially nil).
    pub fn global<T>(&self) -> Global<T> {
        self.globals.register()
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The heap.
    pub fn heap(&self) -> &Arc<MHeap> {
        &self.heap
    }

    /// The write-barrier switch.
    pub fn write_barrier(&self) -> &Arc<WriteBarrier> {
        &self.wb
    }

    /// The global roots.
    pub fn globals(&self) -> &Arc<Globals> {
        &self.globals
    }

    /// The scheduler.
    pub fn sched(&self) -> &Arc<Sched<PState, GState>> {
        &self.sched
    }

    /// Stop the world from outside any goroutine (tests, benchmarks, the collector's thread).
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
}
