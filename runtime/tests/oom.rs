//! Out of memory mid-cycle (issue 12, item 4): the OS refuses every few mmap calls while cycles
//! run and goroutines allocate large `Bytes` and pointer arrays. Every refusal must reach the
//! allocating goroutine as an `Err`; nothing may panic or abort; once the refusals stop the
//! heap verifies, the ledger balances and allocation works again.
#![allow(missing_docs)] // test-only heap types

use gomem::sync::{AtomicBool, AtomicU64, Ordering};
use gomem::{gc_object, AllocError, Bytes, Config, Gc, Global, Local, Mutator, PtrArray, Runtime};
use std::sync::Arc;

gc_object! {
    /// Holds one buffer and the pattern byte it was filled with.
    pub struct Holder {
        pub buf: Gc<Bytes>,
        pub seed: u64,
    }
}

/// Slots each goroutine keeps alive in its global ring.
const RING: usize = 24;

fn rt() -> Runtime {
    let cfg = Config::default().gomaxprocs(2).godebug("clobberfree=1,gccheckmark=1").unwrap();
    let rt = Runtime::new(cfg).unwrap();
    rt.set_gc_percent(25);
    rt
}

/// Every byte of a kept buffer still holds its pattern.
fn check(m: &mut Mutator<'_>, h: Local<'_, Holder>) {
    let seed = m.read(h, Holder::seed) as u8;
    let b = m.get(h, Holder::buf).expect("holder keeps its buffer");
    let len = m.bytes_len(b);
    let mut out = vec![0u8; 4096.min(len)];
    for off in [0, len - out.len()] {
        m.read_bytes(b, off, &mut out);
        assert!(out.iter().all(|&x| x == seed), "buffer of seed {seed} corrupted at {off}");
    }
}

/// One goroutine's work: large buffers and arrays, some kept in a ring reachable from a global,
/// errors counted (and checked to be the OS's refusal).
fn churn(m: &mut Mutator<'_>, ring: Global<PtrArray<Holder>>, g: u64, errs: &AtomicU64) {
    for i in 0..160u64 {
        m.scope(|m| {
            let seed = (g * 31 + i) % 251 + 1;
            // 256 KiB .. 6 MiB: large objects, each a span of its own.
            let len = (256 << 10) + ((i * 977 + g * 131) % 24) as usize * (256 << 10);
            let r: Result<(), AllocError> = (|| {
                let b = m.alloc_bytes(len)?;
                m.write_bytes(b, 0, &vec![seed as u8; 4096]);
                m.write_bytes(b, len - 4096, &vec![seed as u8; 4096]);
                let h = m.alloc::<Holder>()?;
                m.set(h, Holder::buf, Some(b));
                m.write(h, Holder::seed, seed);
                // A pointer array of several oblets (128 KiB each) now and then.
                if i % 5 == 0 {
                    let arr = m.alloc_array::<Holder>(40_000 + (i as usize % 7) * 10_000)?;
                    m.array_set(arr, 39_999, Some(h));
                    let back = m.array_get(arr, 39_999).expect("just stored");
                    assert_eq!(m.read(back, Holder::seed), seed);
                }
                let a = m.global(ring).expect("ring");
                m.array_set(a, (i as usize) % RING, Some(h));
                Ok(())
            })();
            match r {
                Ok(()) => {}
                Err(AllocError::Os(e)) => {
                    assert_eq!(e.errno, 0, "only injected failures expected: {e}");
                    errs.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => panic!("unexpected allocation error: {e}"),
            }
            let a = m.global(ring).expect("ring");
            for k in 0..RING {
                if let Some(h) = m.array_get(a, k) {
                    check(m, h);
                }
            }
        });
        if i % 40 == 39 {
            m.gc();
        }
    }
}

#[test]
fn mmap_failures_mid_cycle_are_errors_and_the_heap_recovers() {
    let rt = rt();
    let rings: Vec<Global<PtrArray<Holder>>> = (0..3).map(|_| rt.global()).collect();
    let rs = rings.clone();
    rt.go(move |m| {
        for ring in rs {
            m.scope(|m| {
                let a = m.alloc_array::<Holder>(RING).unwrap();
                m.set_global(ring, Some(a));
            });
        }
    })
    .join()
    .unwrap();
    // Every third reserve/map fails: most heap growths need a few tries.
    rt.heap().os().inject_failures_every(3);
    let errs = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let gcs = {
        let (done, c) = (done.clone(), rt.collector().clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !done.load(Ordering::Relaxed) {
                c.gc();
                n += 1;
                std::thread::yield_now();
            }
            n
        })
    };
    let hs: Vec<_> = rings
        .iter()
        .enumerate()
        .map(|(g, &ring)| {
            let errs = errs.clone();
            rt.go(move |m| churn(m, ring, g as u64, &errs))
        })
        .collect();
    for h in hs {
        h.join().expect("goroutine");
    }
    done.store(true, Ordering::Relaxed);
    let cycles = gcs.join().unwrap();
    let injected = rt.heap().os().injected_failures();
    rt.heap().os().inject_failures(0);
    assert!(injected > 0, "no mmap call was refused: the test exercises nothing");
    assert!(errs.load(Ordering::Relaxed) > 0, "{injected} refusals, none reached a goroutine");
    assert!(cycles > 0);
    // Every OS call refused, and no recycled work buffer left: a whole cycle runs on the
    // collector's degraded paths (the work-buffer reserve, roots shaded as they are found,
    // checkmark giving up) and goroutines get only errors.
    // SAFETY: the test only frees the pool's empty buffers and reads a counter; no grey work
    // goes in or out.
    let pool = unsafe { rt.collector().pool() };
    pool.free_empty();
    let before = pool.reserve_uses();
    let heap = rt.heap().clone();
    rt.go(move |m| {
        // Roots for the goroutine scan to list while the list cannot grow.
        let held: Vec<_> = (0..40).map(|_| m.alloc::<Holder>().unwrap()).collect();
        heap.os().inject_failures_every(1);
        m.gc();
        let refused = m.scope(|m| m.alloc_bytes(32 << 20).map(drop));
        assert!(matches!(refused, Err(AllocError::Os(_))), "{refused:?}");
        m.gc();
        heap.os().inject_failures(0);
        held.len()
    })
    .join()
    .unwrap();
    assert!(pool.reserve_uses() > before, "no work-buffer allocation was refused");

    // Recovery: a full cycle, then the heap's structure and counters agree.
    rt.gc();
    rt.verify_heap().unwrap();
    let l = rt.ledger();
    assert!(l.balances(), "{l:?}");
    // Allocation works again, large and small, and what the rings kept is intact.
    let ok = rt.go(move |m| {
        for &ring in &rings {
            let a = m.global(ring).expect("ring");
            for k in 0..RING {
                if let Some(h) = m.array_get(a, k) {
                    check(m, h);
                }
            }
        }
        m.scope(|m| m.alloc_bytes(64 << 20).map(|b| m.bytes_len(b)))
    });
    assert!(ok.join().unwrap().unwrap() >= 64 << 20);
    rt.verify_heap().unwrap();
}
