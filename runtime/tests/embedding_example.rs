//! The complete example of docs/embedding.md, compiled and run (keep the two identical apart
//! from `main` becoming this test).
#![allow(missing_docs)] // the guide's example types

use gomem::{gc_object, Config, Gc, Local, Mutator, Runtime};

gc_object! {
    /// An association-list entry: key, value, next.
    pub struct Entry {
        pub next: Gc<Entry>,
        pub key: u64,
        pub value: i64,
    }
}

gc_object! {
    /// A map object: a head pointer and a count.
    pub struct Map {
        pub head: Gc<Entry>,
        pub len: u64,
    }
}

fn insert(m: &mut Mutator<'_>, map: Local<'_, Map>, key: u64, value: i64) {
    // Every handle made in here is dropped as a root when the scope ends.
    m.scope(|m| {
        let e = m.alloc::<Entry>().expect("out of memory");
        m.write(e, Entry::key, key);
        m.write(e, Entry::value, value);
        let old = m.get(map, Map::head); // a rooted handle, or None
        m.set(e, Entry::next, old); // pointer stores pass the write barrier
        m.set(map, Map::head, Some(e));
        let n = m.read(map, Map::len);
        m.write(map, Map::len, n + 1); // scalars need no barrier
    })
}

fn lookup(m: &Mutator<'_>, map: Local<'_, Map>, key: u64) -> Option<i64> {
    // Reading allocates nothing, so a view will do: its loads push no roots, and while it
    // lives nothing can allocate or reach a safepoint (the borrow checker sees to it).
    let v = m.view();
    let mut cur = v.get(v.of(map), Map::head);
    while let Some(e) = cur {
        if v.read(e, Entry::key) == key {
            return Some(v.read(e, Entry::value));
        }
        cur = v.get(e, Entry::next);
    }
    None
}

fn find<'s>(m: &Mutator<'s>, map: Local<'_, Map>, key: u64) -> Option<Local<'s, Entry>> {
    // The same walk, but the entry found must outlive the view: root just that one.
    let v = m.view();
    let mut cur = v.get(v.of(map), Map::head);
    while let Some(e) = cur {
        if v.read(e, Entry::key) == key {
            return Some(m.root(e));
        }
        cur = v.get(e, Entry::next);
    }
    None
}

#[test]
fn embedding_guide_example_runs() -> Result<(), Box<dyn std::error::Error>> {
    // GOGC, GOMEMLIMIT, GOMAXPROCS and GODEBUG from the environment; an invalid value is an
    // error that names the variable.
    let rt = Runtime::new(Config::from_env()?.gomaxprocs(4))?;

    // A global root: lives as long as the runtime, visible to every goroutine.
    let table = rt.global::<Map>();
    rt.go(move |m| {
        let map = m.alloc::<Map>().expect("out of memory");
        m.set_global(table, Some(map));
    })
    .join()
    .expect("init");

    // Four goroutines, each with its own map, plus readers of the shared one.
    let workers: Vec<_> = (0..4)
        .map(|w| {
            rt.go(move |m| {
                let mine = m.alloc::<Map>().expect("out of memory");
                for k in 0..1000 {
                    insert(m, mine, k, (k * w) as i64);
                    if k % 100 == 0 {
                        m.safepoint(); // long loops should offer safepoints
                    }
                }
                if let Some(e) = find(m, mine, 7) {
                    m.write(e, Entry::value, -7); // a rooted Local: writes, allocation are fine
                }
                let shared = m.global(table).expect("set above");
                lookup(m, shared, 1).is_none()
                    && lookup(m, mine, 999) == Some(999 * w as i64)
                    && lookup(m, mine, 7) == Some(-7)
            })
        })
        .collect();
    for w in workers {
        assert!(w.join().expect("worker panicked"));
    }
    Ok(())
}
