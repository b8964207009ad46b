//! Measuring a workload run: [`measure`] runs a [`Spec`] on a runtime beside a monitor thread and
//! returns a [`Report`], the object `gomem run --json` prints. The Go twins print the same
//! object (same keys, same meanings) from `runtime.ReadMemStats`, `runtime/metrics` and
//! `getrusage`, so the two can be put side by side.
//!
//! # Where each number comes from
//!
//! | field | gomem | Go twin |
//! |---|---|---|
//! | `wall_s` | [`Instant`] around the workload | `time.Now` around the workload |
//! | `user_s`, `sys_s` | `getrusage(RUSAGE_SELF)`, after minus before (all threads: mutators, mark workers, sweeper) | `syscall.Getrusage`, the same |
//! | `mallocs`, `total_alloc_bytes`, `heap_goal_bytes` | [`MemStats`](gomem::MemStats) at the end (`mallocs`, `total_alloc`, `next_gc`) | `runtime.MemStats` at the end |
//! | `num_gc`, `pause_total_ns`, `gc_cpu_fraction` | the same `MemStats` | the same |
//! | `pause_max_ns`, `pause_p99_ns` | the collector's record of every stop-the-world pause ([`GcStats::pauses`](gomem::collector::cycle::GcStats), nearest rank) | the `/sched/pauses/total/gc:seconds` histogram: the upper bound of the bucket holding the rank (buckets are a few % to 25 % wide) |
//! | `peak_heap_alloc_bytes` | the heap's `heap_alloc` (Go's `HeapAlloc`: bytes of objects allocated and not yet freed by a sweep), sampled every 10 ms and at the end (one atomic load, the world keeps running) | `/memory/classes/heap/objects:bytes` (Go's `HeapAlloc`), sampled every 10 ms and at the end |
//! | `peak_rss_bytes` | the larger of `getrusage` `ru_maxrss` × 1024 and every `rss_samples` value | the same |
//! | `gc_limiter_last_enabled` | the GC CPU limiter's last-enabled cycle ([`MemStats`](gomem::MemStats)`::gc_limiter_last_enabled`; 0 = never) | `/gc/limiter/last-enabled:gc-cycle` |
//! | `rss_samples` | every 100 ms and at the end: `/proc/self/statm` resident pages × 4096, the heap's `heap_alloc` and `heap_released` (Go's `heapReleased`) | every 100 ms and at the end: `/proc/self/statm`, `/memory/classes/heap/objects:bytes`, `/memory/classes/heap/released:bytes` |
//!
//! Both heap figures are occupied bytes, so a peak heap above the peak RSS means the pages were
//! never touched (lazily zeroed spans), not that one of the figures is wrong. The pacer's
//! `heap_live` (Go's `heapLive`) is not used: it counts every slot handed to a cache since the
//! last mark, so it grows past the occupied heap whenever swept slots are reused (in `alloc`,
//! to well above the resident set). gomem's `heap_alloc` lags the true figure by the slots
//! allocated from spans still cached by Ps (at most a span per size class per P); Go's counts a
//! cached span's free slots as allocated, so it leads by as much. `Runtime::read_mem_stats` would
//! give the exact figure but stops the world, which every 10 ms would change the run it measures.
//!
//! `ru_maxrss` is the kernel's high-water mark, which Linux updates lazily (at some page faults
//! and unmaps), so it can be below a later `/proc/self/statm` reading; the peak takes both.
//!
//! Times are process-wide: a twin's `user_s` includes Go's own background work (its GC workers
//! run on Ps), gomem's the collector's threads.

use super::{Outcome, Param, Progress, Spec, WorkloadError};
use gomem::Runtime;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One measured run: the JSON object `gomem run --json` and the Go twins' `-json` print.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// `"gomem"` or `"go"`.
    pub runtime: String,
    /// The workload's name (`"churn"`).
    pub workload: String,
    /// The workload's parameters ([`Spec::parameters`]).
    pub parameters: BTreeMap<String, serde_json::Value>,
    /// GOGC in force; -1 for off.
    pub gogc: i64,
    /// GOMEMLIMIT in force, bytes; null for none.
    pub gomemlimit_bytes: Option<u64>,
    /// GOMAXPROCS in force.
    pub gomaxprocs: u64,
    /// Wall-clock seconds of the workload.
    pub wall_s: f64,
    /// User CPU seconds of the process during the workload.
    pub user_s: f64,
    /// System CPU seconds of the process during the workload.
    pub sys_s: f64,
    /// Heap objects allocated (`Mallocs`).
    pub mallocs: u64,
    /// Bytes allocated (`TotalAlloc`).
    pub total_alloc_bytes: u64,
    /// Completed GC cycles (`NumGC`).
    pub num_gc: u64,
    /// Total stop-the-world pause, ns (`PauseTotalNs`).
    pub pause_total_ns: u64,
    /// Longest single stop-the-world pause, ns.
    pub pause_max_ns: u64,
    /// 99th percentile of single pauses, ns.
    pub pause_p99_ns: u64,
    /// Fraction of the available CPU the collector used (`GCCPUFraction`).
    pub gc_cpu_fraction: f64,
    /// Largest heap sampled, bytes (see the module docs for the sampler).
    pub peak_heap_alloc_bytes: u64,
    /// Peak resident set of the process, bytes.
    pub peak_rss_bytes: u64,
    /// The resident set over the run, every [`RSS_SAMPLE_INTERVAL`] and once at the end.
    #[serde(default)]
    pub rss_samples: Vec<RssSample>,
    /// The heap goal at the end (`NextGC`).
    pub heap_goal_bytes: u64,
    /// The GC cycle in which the GC CPU limiter last turned on; 0 if it never did.
    #[serde(default)]
    pub gc_limiter_last_enabled: u64,
    /// The workload's check value.
    pub check: u64,
    /// Workload-specific measurements.
    pub metrics: BTreeMap<String, u64>,
    /// The workload's output lines.
    pub output: Vec<String>,
}

/// One point of a run's memory over time.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RssSample {
    /// Seconds since the workload started.
    pub t_s: f64,
    /// Resident set of the process, bytes (`/proc/self/statm`).
    pub rss_bytes: u64,
    /// The heap as the peak-heap sampler sees it (`heap_alloc`, see the module docs), bytes.
    pub heap_bytes: u64,
    /// Heap memory returned to the OS and not reused (Go's `heapReleased`), bytes.
    pub released_bytes: u64,
}

/// How often the monitor records an [`RssSample`].
pub const RSS_SAMPLE_INTERVAL: Duration = Duration::from_millis(100);

/// What the monitor sees at each tick (for a progress display).
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// Since the workload started.
    pub elapsed: Duration,
    /// Work done, in the workload's units.
    pub done: u64,
    /// Work planned.
    pub total: u64,
    /// The heap's `heap_live`, bytes.
    pub heap_live: u64,
    /// Completed GC cycles.
    pub num_gc: u32,
}

/// How often the monitor samples the heap.
pub const SAMPLE_INTERVAL: Duration = Duration::from_millis(10);

/// CPU times and peak RSS of this process.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rusage {
    /// User CPU seconds.
    pub user_s: f64,
    /// System CPU seconds.
    pub sys_s: f64,
    /// Peak resident set, bytes.
    pub max_rss_bytes: u64,
}

/// `getrusage(RUSAGE_SELF)`.
pub fn rusage() -> Rusage {
    // SAFETY: all-zero bytes are a valid `rusage` (a plain C struct of integers).
    let mut ru: libc::rusage = unsafe { core::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable `rusage`; RUSAGE_SELF is a valid `who`.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return Rusage::default();
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Rusage {
        user_s: secs(ru.ru_utime),
        sys_s: secs(ru.ru_stime),
        // Linux reports kilobytes.
        max_rss_bytes: (ru.ru_maxrss.max(0) as u64) * 1024,
    }
}

/// The nearest-rank 99th percentile of `values` (0 for none).
pub fn p99(values: &[u64]) -> u64 {
    let mut v = values.to_vec();
    v.sort_unstable();
    super::latency::percentile(&v, 0.99)
}

/// Run `spec` on `rt` while a monitor thread samples the heap every [`SAMPLE_INTERVAL`] and
/// hands each [`Sample`] to `tick` (on the monitor thread); then gather the statistics.
pub fn measure(
    rt: &Runtime,
    spec: &Spec,
    tick: impl FnMut(&Sample) + Send,
) -> Result<Report, WorkloadError> {
    spec.validate().map_err(WorkloadError::Invalid)?;
    let progress = Progress::new();
    let heap = rt.heap().clone();
    let collector = rt.collector().clone();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let ru0 = rusage();
    let t0 = Instant::now();
    let (outcome, wall, (peak, rss_samples)) = std::thread::scope(|s| {
        let monitor = {
            let progress = Arc::clone(&progress);
            let mut tick = tick;
            s.spawn(move || {
                let mut peak = heap.stats.heap_alloc();
                let mut samples = Vec::new();
                let mut next_sample = Duration::ZERO;
                let sample = |samples: &mut Vec<RssSample>| {
                    samples.push(RssSample {
                        t_s: t0.elapsed().as_secs_f64(),
                        rss_bytes: gomem_allocator::procfs::process_rss().unwrap_or(0),
                        heap_bytes: heap.stats.heap_alloc(),
                        released_bytes: heap.stats.heap_released(),
                    })
                };
                loop {
                    let live = heap.heap_live();
                    peak = peak.max(heap.stats.heap_alloc());
                    if t0.elapsed() >= next_sample {
                        sample(&mut samples);
                        next_sample += RSS_SAMPLE_INTERVAL;
                    }
                    let (done, total) = progress.get();
                    tick(&Sample {
                        elapsed: t0.elapsed(),
                        done,
                        total,
                        heap_live: live,
                        num_gc: collector.num_gc(),
                    });
                    match stop_rx.recv_timeout(SAMPLE_INTERVAL) {
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                        _ => {
                            sample(&mut samples);
                            return (peak.max(heap.stats.heap_alloc()), samples);
                        }
                    }
                }
            })
        };
        let outcome = spec.run(rt, &progress);
        let wall = t0.elapsed();
        let _ = stop_tx.send(());
        (outcome, wall, monitor.join().expect("monitor thread"))
    });
    let ru1 = rusage();
    let outcome = outcome?;
    let ms = rt.read_mem_stats();
    let gc = rt.collector().stats();
    let cfg = rt.config();
    Ok(Report {
        runtime: "gomem".into(),
        workload: spec.name().into(),
        parameters: params_json(&spec.parameters()),
        gogc: match cfg.gc_percent {
            gomem::GcPercent::Off => -1,
            gomem::GcPercent::Percent(p) => p.into(),
        },
        gomemlimit_bytes: rt.memory_limit(),
        gomaxprocs: rt.gomaxprocs() as u64,
        wall_s: wall.as_secs_f64(),
        user_s: ru1.user_s - ru0.user_s,
        sys_s: ru1.sys_s - ru0.sys_s,
        mallocs: ms.mallocs,
        total_alloc_bytes: ms.total_alloc,
        num_gc: ms.num_gc.into(),
        pause_total_ns: ms.pause_total_ns,
        pause_max_ns: gc.pause_max_ns,
        pause_p99_ns: p99(&gc.pauses),
        gc_cpu_fraction: ms.gc_cpu_fraction,
        peak_heap_alloc_bytes: peak,
        // The kernel's high-water mark lags (see the module docs): a sample can be above it.
        peak_rss_bytes: rss_samples.iter().map(|r| r.rss_bytes).fold(ru1.max_rss_bytes, u64::max),
        rss_samples,
        heap_goal_bytes: ms.next_gc,
        gc_limiter_last_enabled: ms.gc_limiter_last_enabled.into(),
        check: outcome.check,
        metrics: outcome.metrics.iter().map(|&(k, v)| (k.to_owned(), v)).collect(),
        output: output_lines(&outcome),
    })
}

/// Parameters as a JSON object.
pub fn params_json(params: &[(&'static str, Param)]) -> BTreeMap<String, serde_json::Value> {
    params
        .iter()
        .map(|&(k, v)| {
            let v = match v {
                Param::Uint(v) => serde_json::Value::from(v),
                Param::Int(v) => serde_json::Value::from(v),
                Param::Bool(v) => serde_json::Value::from(v),
                Param::Name(v) => serde_json::Value::from(v),
            };
            (k.to_owned(), v)
        })
        .collect()
}

/// The output as lines, without their newlines.
pub fn output_lines(o: &Outcome) -> Vec<String> {
    o.output.lines().map(str::to_owned).collect()
}

impl Report {
    /// The report as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a report serialises")
    }

    /// The summary table `gomem run` prints on stderr: one `name  value` row per line.
    pub fn summary(&self) -> String {
        use super::format_size;
        use std::fmt::Write;
        let ms = |ns: u64| format!("{:.3} ms", ns as f64 / 1e6);
        let params: Vec<String> = self.parameters.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let limit = self.gomemlimit_bytes.map_or("off".to_owned(), format_size);
        let gogc = if self.gogc < 0 { "off".to_owned() } else { self.gogc.to_string() };
        let rows: Vec<(&str, String)> = vec![
            ("workload", format!("{} ({})", self.workload, params.join(" "))),
            (
                "runtime",
                format!(
                    "{} GOGC={gogc} GOMEMLIMIT={limit} GOMAXPROCS={}",
                    self.runtime, self.gomaxprocs
                ),
            ),
            ("wall", format!("{:.3} s", self.wall_s)),
            ("cpu", format!("{:.3} s user, {:.3} s sys", self.user_s, self.sys_s)),
            (
                "allocated",
                format!("{} in {} objects", format_size(self.total_alloc_bytes), self.mallocs),
            ),
            ("GC cycles", self.num_gc.to_string()),
            (
                "GC pauses",
                format!(
                    "total {}, max {}, p99 {}",
                    ms(self.pause_total_ns),
                    ms(self.pause_max_ns),
                    ms(self.pause_p99_ns)
                ),
            ),
            ("GC CPU", format!("{:.1}%", self.gc_cpu_fraction * 100.0)),
            (
                "GC CPU limiter",
                match self.gc_limiter_last_enabled {
                    0 => "never on".to_owned(),
                    n => format!("last on in cycle {n}"),
                },
            ),
            (
                "peak heap",
                format!(
                    "{} (objects allocated and not yet swept, sampled every 10 ms)",
                    format_size(self.peak_heap_alloc_bytes)
                ),
            ),
            ("heap goal", format_size(self.heap_goal_bytes)),
            ("peak RSS", format_size(self.peak_rss_bytes)),
            ("check", self.check.to_string()),
        ];
        let mut s = String::new();
        for (k, v) in rows
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .chain(self.metrics.iter().map(|(k, v)| (k.as_str(), v.to_string())))
        {
            let _ = writeln!(s, "{k:<22} {v}");
        }
        s
    }
}
