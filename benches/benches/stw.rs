//! Stop-the-world pause with GOMAXPROCS goroutines running (a benchmark, not a test).
//!
//! GOMAXPROCS goroutines run mutator loops (allocating small objects and linking them, with a
//! `safepoint()` poll every iteration, as a compiler-inserted check would be); the main thread
//! stops and restarts the world repeatedly and records how long each stop took (request → every
//! P parked at a safepoint or idle: `WorldStopped::stop_duration`). Prints the median, p99 and
//! maximum over the run. Run:
//!
//! ```sh
//! cargo bench -p gomem-benches --bench stw -- [iterations] [gomaxprocs]
//! ```

use gomem::sync::{AtomicBool, Ordering};
use gomem::{gc_object, Config, Gc, Runtime};
use std::sync::Arc;
use std::time::Duration;

gc_object! {
    /// A list cell.
    struct Cell {
        next: Gc<Cell>,
        v: u64,
    }
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    // Criterion-style flags (`--bench`) may precede ours; take the numeric arguments.
    let nums: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let iterations = nums.first().copied().unwrap_or(2000);
    let procs = nums.get(1).copied().unwrap_or(2);
    let rt = Runtime::new(Config::default().gomaxprocs(procs)).expect("runtime");
    let stop = Arc::new(AtomicBool::new(false));
    let gs: Vec<_> = (0..procs)
        .map(|_| {
            let stop = stop.clone();
            rt.go(move |m| {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    m.scope(|m| {
                        let mut head = None;
                        for i in 0..64 {
                            let c = m.alloc::<Cell>().expect("alloc");
                            m.write(c, Cell::v, i);
                            m.set(c, Cell::next, head);
                            head = Some(c);
                        }
                    });
                    m.safepoint();
                    n += 1;
                }
                n
            })
        })
        .collect();
    // Let the goroutines get going.
    std::thread::sleep(Duration::from_millis(50));
    let mut pauses = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let w = rt.stop_the_world("bench");
        pauses.push(w.stop_duration());
        w.start_the_world();
        std::thread::sleep(Duration::from_micros(200));
    }
    stop.store(true, Ordering::Relaxed);
    let loops: u64 = gs.into_iter().map(|g| g.join().expect("goroutine")).sum();
    pauses.sort();
    println!(
        "stw pause, GOMAXPROCS={procs}, {} running goroutines, {iterations} stops: median {:?}  p99 {:?}  max {:?}  (mutator loops: {loops})",
        procs,
        pct(&pauses, 0.5),
        pct(&pauses, 0.99),
        pauses.last().expect("pauses")
    );
}
