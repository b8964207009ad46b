//! The public API from a runtime implementer's side: typed objects, pointer stores and loads,
//! scopes and escapes, globals, arrays, bytes, several goroutines at once.
#![allow(missing_docs)] // test-only heap types

use gomem::{gc_object, Config, Gc, GcType, Local, Mutator, Runtime};

gc_object! {
    /// A list cell with a payload.
    pub struct Cell {
        pub next: Gc<Cell>,
        pub value: u64,
        pub tag: u8,
    }
}

gc_object! {
    /// Pointers in the middle and at the end, scalars around them.
    pub struct Mixed {
        pub a: u32,
        pub b: u32,
        pub p: Gc<Cell>,
        pub f: f64,
        pub q: Gc<Mixed>,
        pub z: i16,
    }
}

fn rt(procs: usize) -> Runtime {
    Runtime::new(Config::default().gomaxprocs(procs)).expect("runtime")
}

#[test]
fn descriptors_are_derived_from_the_layout() {
    assert_eq!(Cell::DESC.size, 24);
    assert_eq!(Cell::DESC.ptr_bytes, 8);
    assert_eq!(Cell::DESC.gcmask, &[0b1]);
    // Mixed: a,b at 0..8, p at 8, f at 16, q at 24, z at 32 → size 40, pointers in words 1 and 3.
    assert_eq!(Mixed::DESC.size, 40);
    assert_eq!(Mixed::DESC.ptr_bytes, 32);
    assert_eq!(Mixed::DESC.gcmask, &[0b1010]);
    assert_eq!(Mixed::p.offset(), 8);
    assert_eq!(Mixed::q.offset(), 24);
}

fn build_list<'s>(m: &mut Mutator<'s>, n: u64, tag: u8) -> Option<Local<'s, Cell>> {
    let mut head = None;
    for v in (0..n).rev() {
        let c = m.alloc::<Cell>().unwrap();
        m.write(c, Cell::value, v);
        m.write(c, Cell::tag, tag);
        m.set(c, Cell::next, head);
        head = Some(c);
    }
    head
}

fn sum_list(m: &mut Mutator<'_>, head: Option<Local<'_, Cell>>, tag: u8) -> (u64, u64) {
    m.scope(|m| {
        let (mut sum, mut n, mut cur) = (0, 0, head);
        while let Some(c) = cur {
            assert_eq!(m.read(c, Cell::tag), tag);
            sum += m.read(c, Cell::value);
            n += 1;
            cur = m.get(c, Cell::next);
        }
        (sum, n)
    })
}

#[test]
fn typed_allocation_and_pointer_stores_from_several_goroutines() {
    let rt = rt(2);
    let hs: Vec<_> = (0..6u8)
        .map(|t| {
            rt.go(move |m| {
                let head = build_list(m, 5000, t);
                sum_list(m, head, t)
            })
        })
        .collect();
    for h in hs {
        assert_eq!(h.join().unwrap(), (5000 * 4999 / 2, 5000));
    }
    let l = rt.ledger();
    assert!(l.balances(), "{l}");
    assert!(l.in_use >= 6 * 5000 * 24);
}

#[test]
fn fresh_objects_are_zero_and_nil() {
    let rt = rt(1);
    rt.go(|m| {
        let x = m.alloc::<Mixed>().unwrap();
        assert_eq!(m.read(x, Mixed::a), 0);
        assert_eq!(m.read(x, Mixed::f), 0.0);
        assert!(m.get(x, Mixed::p).is_none());
        assert!(m.get(x, Mixed::q).is_none());
        let c = m.alloc::<Cell>().unwrap();
        m.set(x, Mixed::p, Some(c));
        m.set(x, Mixed::q, Some(x));
        assert_eq!(m.get(x, Mixed::p), Some(c));
        assert_eq!(m.get(x, Mixed::q), Some(x));
        m.set(x, Mixed::p, None);
        assert!(m.get(x, Mixed::p).is_none());
    })
    .join()
    .unwrap();
}

#[test]
fn scopes_drop_roots_and_escape_keeps_one() {
    let rt = rt(1);
    rt.go(|m| {
        let base = m.root_count();
        m.scope(|m| {
            for _ in 0..100 {
                m.alloc::<Cell>().unwrap();
            }
            assert_eq!(m.root_count(), base + 100);
        });
        assert_eq!(m.root_count(), base);
        let kept = m.escape(|m| -> Result<_, gomem::AllocError> {
            let head = build_list(m, 10, 7).unwrap();
            Ok(head)
        });
        let kept = kept.unwrap();
        assert_eq!(m.root_count(), base + 1);
        assert_eq!(sum_list(m, Some(kept), 7), (45, 10));
    })
    .join()
    .unwrap();
}

#[test]
fn globals_hold_objects_across_goroutines() {
    let rt = rt(2);
    let g = rt.global::<Cell>();
    rt.go(move |m| {
        let head = build_list(m, 100, 3);
        m.set_global(g, head);
    })
    .join()
    .unwrap();
    let got = rt
        .go(move |m| {
            let head = m.global(g);
            sum_list(m, head, 3)
        })
        .join()
        .unwrap();
    assert_eq!(got, (4950, 100));
    assert_eq!(rt.globals().len(), 1);
    let mut roots = 0;
    rt.globals().for_each_root(|_| roots += 1);
    assert_eq!(roots, 1);
}

#[test]
fn arrays_and_bytes() {
    let rt = rt(1);
    rt.go(|m| {
        let a = m.alloc_array::<Cell>(100).unwrap();
        assert!(m.array_len(a) >= 100);
        for i in 0..100 {
            assert!(m.array_get(a, i).is_none());
        }
        let c = m.alloc::<Cell>().unwrap();
        m.write(c, Cell::value, 42);
        m.array_set(a, 57, Some(c));
        let back = m.array_get(a, 57).unwrap();
        assert_eq!(m.read(back, Cell::value), 42);
        // Large arrays know their exact length.
        let big = m.alloc_array::<Cell>(10_000).unwrap();
        assert_eq!(m.array_len(big), 10_000);

        let b = m.alloc_bytes(1000).unwrap();
        assert!(m.bytes_len(b) >= 1000);
        m.write_bytes(b, 10, b"hello");
        let mut out = [0u8; 7];
        m.read_bytes(b, 9, &mut out);
        assert_eq!(&out, b"\0hello\0");
    })
    .join()
    .unwrap();
}

/// `alloc_bytes_from` copies its data into memory that held other buffers, and the rest of
/// the slot reads as zero.
#[test]
fn alloc_bytes_from_copies_and_clears_the_rest_of_the_slot() {
    let rt = rt(1);
    rt.go(|m| {
        for _ in 0..2000 {
            m.scope(|m| {
                let b = m.alloc_bytes(100).unwrap();
                let n = m.bytes_len(b);
                m.write_bytes(b, 0, &vec![0xffu8; n]);
            });
        }
    })
    .join()
    .unwrap();
    rt.gc();
    rt.go(|m| {
        for i in 0..2000usize {
            m.scope(|m| {
                let data: Vec<u8> = (0..100).map(|k| (i + k) as u8 | 1).collect();
                let b = m.alloc_bytes_from(&data).unwrap();
                let n = m.bytes_len(b);
                assert!(n >= 100);
                let mut out = vec![0xaau8; n];
                m.read_bytes(b, 0, &mut out);
                assert_eq!(&out[..100], &data[..], "buffer {i}");
                assert!(out[100..].iter().all(|&x| x == 0), "buffer {i}: tail not cleared");
            });
        }
        let e = m.alloc_bytes_from(&[]).unwrap();
        assert_eq!(m.bytes_len(e), 0);
    })
    .join()
    .unwrap();
}

#[test]
fn out_of_bounds_array_access_panics_cleanly() {
    let rt = rt(1);
    let r = rt
        .go(|m| {
            let a = m.alloc_array::<Cell>(4).unwrap();
            let n = m.array_len(a);
            m.array_get(a, n);
        })
        .join();
    assert!(r.is_err());
    // The runtime is still usable: the panicking goroutine released its P.
    assert!(rt.go(|m| m.alloc::<Cell>().is_ok()).join().unwrap());
}

#[test]
fn allocation_errors_are_errors() {
    let rt = rt(1);
    rt.go(|m| {
        let e = m.alloc_array::<Cell>(usize::MAX / 4).unwrap_err();
        assert!(e.to_string().contains("overflow"), "{e}");
        let e = m.alloc_bytes(1 << 60).unwrap_err();
        assert!(e.to_string().contains("exceeds"), "{e}");
        assert!(m.alloc::<Cell>().is_ok());
    })
    .join()
    .unwrap();
}

#[test]
fn several_runtimes_are_independent() {
    let a = rt(1);
    let b = rt(1);
    let addr = a.go(|m| m.alloc::<Cell>().unwrap().addr()).join().unwrap();
    assert!(a.heap().find_object(addr).is_some());
    assert!(b.heap().find_object(addr).is_none());
}
