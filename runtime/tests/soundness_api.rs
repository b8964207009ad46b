//! Soundness of the typed object API (issue 12, S1, S2, S3, S6, S7, S9): programs that the
//! safe API used to let corrupt the heap, each checked to fail on the code before its fix.
//! The compile-time holes are compile-fail tests in `tests/ui` (run by `compile_fail` below).
#![allow(missing_docs)] // test-only heap types

use gomem::{gc_object, Config, Gc, Runtime};

gc_object! {
    /// A cell with a payload that says who it is.
    pub struct Cell {
        pub next: Gc<Cell>,
        pub value: u64,
    }
}

gc_object! {
    /// A pointer-free object small enough for the tiny allocator.
    pub struct Small {
        pub value: u32,
    }
}

/// A runtime with freed objects clobbered (`0xdeadbeef`), so a freed cell is detectable.
fn rt(procs: usize) -> Runtime {
    let config = Config::default().gomaxprocs(procs).godebug("clobberfree=1").expect("godebug");
    Runtime::new(config).expect("runtime")
}

#[test]
fn compile_fail() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}

/// S1: every index `array_len` admits is scanned, for small (in-span heap bits), header
/// (over 512 bytes) and large arrays, at lengths that are and are not class sizes.
#[test]
fn every_index_array_len_admits_is_scanned() {
    let rt = rt(1);
    let lengths: Vec<usize> =
        (1..=70).chain([100, 127, 129, 500, 1000, 1023, 3000, 4095, 4097, 5000, 9001]).collect();
    rt.go(move |m| {
        let arrays: Vec<_> = lengths
            .iter()
            .map(|&len| {
                let a = m.alloc_array::<Cell>(len).unwrap();
                let cap = m.array_len(a);
                assert!(cap >= len, "array_len {cap} < requested {len}");
                // The cells' own roots end with the scope: only the arrays keep them.
                m.scope(|m| {
                    for i in 0..cap {
                        let c = m.alloc::<Cell>().unwrap();
                        m.write(c, Cell::value, (len << 20 | i) as u64);
                        m.array_set(a, i, Some(c));
                    }
                });
                (len, a)
            })
            .collect();
        for _ in 0..3 {
            m.gc();
            // Reuse whatever the cycle freed.
            m.scope(|m| {
                for _ in 0..20_000 {
                    let g = m.alloc::<Cell>().unwrap();
                    m.write(g, Cell::value, u64::MAX);
                }
            });
        }
        for &(len, a) in &arrays {
            for i in 0..m.array_len(a) {
                m.scope(|m| {
                    let c = m.array_get(a, i);
                    let c = c.unwrap_or_else(|| panic!("len {len}: element {i} is nil"));
                    let v = m.read(c, Cell::value);
                    assert_eq!(v, (len << 20 | i) as u64, "len {len}: element {i} was freed");
                });
            }
        }
    })
    .join()
    .unwrap();
}

/// S2: byte buffers written to their reported length do not overwrite their neighbours,
/// whether made by `alloc_bytes` or `alloc_bytes_from`, next to tiny objects or not. The
/// writes and reads are split at odd offsets, so partial words at both ends are covered.
#[test]
fn byte_buffers_do_not_overlap_their_neighbours() {
    let rt = rt(1);
    rt.go(|m| {
        let mut bufs = Vec::new();
        let mut smalls = Vec::new();
        for round in 0..4u8 {
            for n in 0..40usize {
                let pat = (bufs.len() % 251) as u8 + 1;
                let b = if round % 2 == 0 {
                    m.alloc_bytes(n).unwrap()
                } else {
                    m.alloc_bytes_from(&vec![pat; n]).unwrap()
                };
                let len = m.bytes_len(b);
                assert!(len >= n);
                let image = vec![pat; len];
                let cut = len.min(3);
                m.write_bytes(b, 0, &image[..cut]);
                m.write_bytes(b, cut, &image[cut..]);
                bufs.push((b, pat));
                let s = m.alloc::<Small>().unwrap();
                m.write(s, Small::value, 0x5a5a_0000 | bufs.len() as u32);
                smalls.push((s, 0x5a5a_0000 | bufs.len() as u32));
            }
        }
        for &(b, pat) in &bufs {
            let len = m.bytes_len(b);
            for off in [0, 1.min(len), 5.min(len)] {
                let mut got = vec![0u8; len - off];
                m.read_bytes(b, off, &mut got);
                assert!(got.iter().all(|&x| x == pat), "buffer {pat} overwritten: {got:?}");
            }
        }
        for &(s, v) in &smalls {
            assert_eq!(m.read(s, Small::value), v, "a tiny neighbour was overwritten");
        }
    })
    .join()
    .unwrap();
}

/// S3: a global of one runtime used by another runtime's goroutine is refused with a clear
/// panic (it is not among that runtime's roots), for loads and for stores.
#[test]
fn a_global_of_another_runtime_is_refused() {
    let a = rt(1);
    let b = rt(1);
    let g = a.global::<Cell>();
    let msg =
        |e: Box<dyn std::any::Any + Send>| e.downcast_ref::<String>().cloned().unwrap_or_default();
    let store = b.go(move |m| {
        let c = m.alloc::<Cell>().unwrap();
        m.set_global(g, Some(c));
    });
    let e = msg(store.join().expect_err("a store into another runtime's global succeeded"));
    assert!(e.contains("registered with runtime"), "unclear panic: {e}");
    let load = b.go(move |m| m.global(g).is_some());
    let e = msg(load.join().expect_err("a load from another runtime's global succeeded"));
    assert!(e.contains("used by a goroutine of runtime"), "unclear panic: {e}");
    // Its own runtime still uses it.
    a.go(move |m| {
        let c = m.alloc::<Cell>().unwrap();
        m.set_global(g, Some(c));
        assert_eq!(m.global(g), Some(c));
    })
    .join()
    .unwrap();
}

/// S3: the slot storage outlives `drop(Runtime)` while a goroutine can still use its globals
/// (the goroutine owns the slots' `Arc`, and `drop` waits for goroutines to return). Before the
/// fix, `drop` returned at once, and the goroutine's stores landed in freed memory that the
/// main thread had reallocated (the buffers below) and its loads read that memory back.
#[test]
fn globals_outlive_the_runtime_while_goroutines_use_them() {
    let rt = rt(1);
    let globals: Vec<_> = (0..512).map(|_| rt.global::<Cell>()).collect();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let h = rt.go(move |m| {
        m.without_p(|| go_rx.recv().unwrap());
        let mut bad = 0;
        for (i, &g) in globals.iter().enumerate() {
            let c = m.alloc::<Cell>().unwrap();
            m.write(c, Cell::value, i as u64);
            m.set_global(g, Some(c));
        }
        for (i, &g) in globals.iter().enumerate() {
            match m.global(g) {
                Some(c) if m.read(c, Cell::value) == i as u64 => {}
                _ => bad += 1,
            }
        }
        bad
    });
    // The drop runs on its own thread: it waits for the goroutine, which waits for the spray.
    let dropper = std::thread::spawn(move || drop(rt));
    // Give the drop a moment to start (not a timing assertion: a later drop proves less).
    std::thread::sleep(std::time::Duration::from_millis(50));
    // Take back anything the runtime freed: blocks of the slot chunks' size, with a pattern.
    const PATTERN: usize = 0x0bad_cafe_0bad_cafe;
    let spray: Vec<Box<[usize; 256]>> = (0..64).map(|_| Box::new([PATTERN; 256])).collect();
    go_tx.send(()).unwrap();
    let bad = h.join().unwrap();
    dropper.join().unwrap();
    let clobbered = spray.iter().flat_map(|b| b.iter()).filter(|&&w| w != PATTERN).count();
    assert_eq!(clobbered, 0, "goroutine stores landed in memory freed by drop(Runtime)");
    assert_eq!(bad, 0, "globals read back wrong after drop(Runtime)");
}

/// S7: goroutines sharing an object race on its scalar fields and its byte buffer. Each read
/// sees one of the values written, never a torn mix. This cannot show the absence of undefined
/// behaviour; run it under ThreadSanitizer (docs/testing.md) for that: the accesses are atomic,
/// so TSan reports no race.
#[test]
fn goroutines_racing_on_scalars_and_bytes_see_whole_values() {
    let rt = rt(2);
    let obj = rt.global::<Cell>();
    let buf = rt.global::<gomem::Bytes>();
    rt.go(move |m| {
        let c = m.alloc::<Cell>().unwrap();
        m.set_global(obj, Some(c));
        let b = m.alloc_bytes(64).unwrap();
        m.set_global(buf, Some(b));
    })
    .join()
    .unwrap();
    let workers: Vec<_> = (1..=2u64)
        .map(|k| {
            rt.go(move |m| {
                let c = m.global(obj).unwrap();
                let b = m.global(buf).unwrap();
                let mine = k * 0x0101_0101_0101_0101;
                let mut out = [0u8; 64];
                for _ in 0..20_000 {
                    m.write(c, Cell::value, mine);
                    let v = m.read(c, Cell::value);
                    assert!(v == 0x0101_0101_0101_0101 || v == 0x0202_0202_0202_0202, "{v:#x}");
                    m.write_bytes(b, 0, &[k as u8; 64]);
                    m.read_bytes(b, 0, &mut out);
                    assert!(out.iter().all(|&x| x == 1 || x == 2));
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
}
