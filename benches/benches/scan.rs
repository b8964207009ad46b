//! Criterion benchmarks of the dense-span scan kernels (`gomem_collector::scan`, Go's
//! `internal/runtime/gc/scan` and its `BenchmarkScanSpanPacked`): the scalar kernel beside the
//! AVX-512 one, on the same page, masks and buffer. How to read them: `docs/collector.md`,
//! "Dense-span scan".
//!
//! Groups (criterion ids are `group/function/parameter`):
//!
//! - `scan_span/{scalar,avx512}/SIZE_DENSITY` for SIZE in 16, 32, 48, 64, 128, 512 bytes and
//!   DENSITY `dense` (every object of the span selected), `half` (a random half) and `sparse`
//!   (a random eighth, the least Go scans densely: `scanSpan` visits objects one by one below
//!   `nelems / 8`). One iteration scans one page. The throughput is in *objects selected*, so
//!   criterion's time per element is the time per object; the pointers each scan returns are
//!   printed once per case (`pointers per scan`), for the time per pointer.
//!
//! The page is one 8 KiB span, 8 KiB aligned and warm in the L1 cache (the kernel's own cost,
//! not the memory system's), holding random words of which a quarter are nil; the heap bitmap
//! is random with half the words pointers (as Go's bench). `avx512` runs only where the CPU has
//! the features (`has_fast_scan_span_packed`).

use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};
use gomem::collector::scan::{
    scan_span_packed_scalar, ObjMask, PtrMask, PAGE_WORDS, SCAN_CLASS_WORDS,
};
use gomem_benches::workloads::SplitMix64 as Rng;
use std::hint::black_box;
use std::time::Duration;

/// The sizes measured: the two smallest powers of two, the first straddling class, a cache
/// line, and the largest.
const SIZES: [usize; 6] = [16, 32, 48, 64, 128, 512];

/// A span's page, aligned as spans are.
#[repr(C, align(8192))]
struct Page([u64; PAGE_WORDS]);

/// `n` distinct random objects of `nobj`, as a mask.
fn select(rng: &mut Rng, nobj: usize, n: usize) -> ObjMask {
    let mut order: Vec<usize> = (0..nobj).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, (rng.next() % (i as u64 + 1)) as usize);
    }
    let mut objs = [0u64; 8];
    for &o in &order[..n] {
        objs[o / 64] |= 1 << (o % 64);
    }
    objs
}

type Kernel = unsafe fn(*const u64, &mut [usize; PAGE_WORDS], &ObjMask, usize, &PtrMask) -> usize;

fn kernels() -> Vec<(&'static str, Kernel)> {
    let mut k: Vec<(&'static str, Kernel)> = vec![("scalar", scan_span_packed_scalar)];
    #[cfg(target_arch = "x86_64")]
    if gomem::collector::scan::has_fast_scan_span_packed() {
        k.push(("avx512", gomem::collector::scan::scan_span_packed_avx512));
    }
    k
}

fn bench_scan_span(c: &mut Criterion) {
    let mut rng = Rng::for_goroutine(42, 0);
    let mut page = Box::new(Page([0; PAGE_WORDS]));
    for w in page.0.iter_mut() {
        *w = if rng.next() % 4 == 0 { 0 } else { rng.next() | 8 };
    }
    let ptrs: PtrMask = core::array::from_fn(|_| rng.next());
    let mut buf = Box::new([0usize; PAGE_WORDS]);
    let mut g = c.benchmark_group("scan_span");
    for size in SIZES {
        assert!(SCAN_CLASS_WORDS.contains(&(size / 8)));
        let nobj = PAGE_WORDS * 8 / size;
        for (density, n) in [("dense", nobj), ("half", nobj / 2), ("sparse", nobj / 8)] {
            let objs = select(&mut rng, nobj, n);
            let param = format!("{size}B_{density}");
            g.throughput(Throughput::Elements(n as u64));
            for (name, kernel) in kernels() {
                // SAFETY: the page is a whole 8 KiB-aligned page only this thread touches,
                // `size` is a scanned class, and the CPU has what `kernel` needs (`kernels`).
                let found = unsafe { kernel(page.0.as_ptr(), &mut buf, &objs, size, &ptrs) };
                eprintln!("scan_span/{name}/{param}: {n} objects, {found} pointers per scan");
                g.bench_with_input(BenchmarkId::new(name, &param), &objs, |b, objs| {
                    b.iter(|| {
                        // SAFETY: as above.
                        unsafe {
                            kernel(
                                black_box(page.0.as_ptr()),
                                &mut buf,
                                black_box(objs),
                                size,
                                &ptrs,
                            )
                        }
                    })
                });
            }
        }
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(700))
}

/// Every group, with the short measurement settings of [`config`] (criterion's
/// `criterion_group!` without the undocumented public function it generates).
fn scan_benches() {
    let mut c = config().configure_from_args();
    bench_scan_span(&mut c);
}

criterion_main!(scan_benches);
