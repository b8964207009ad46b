//! The collector, tested as Go's own GC tests test Go's (restated against gomem's API):
//! deep nesting, large pointer arrays, roots dropped mid-cycle, GOGC=off, SetGCPercent, MemStats
//! invariants, and memory actually being reclaimed.
#![allow(missing_docs)] // test-only heap types

use gomem::{gc_object, Config, Gc, GcPercent, Local, MemStats, Mutator, Runtime};

gc_object! {
    /// A list/tree node with a payload that says who it is.
    pub struct Node {
        pub next: Gc<Node>,
        pub other: Gc<Node>,
        pub id: u64,
    }
}

fn rt(procs: usize) -> Runtime {
    let cfg = Config::default().gomaxprocs(procs).godebug("clobberfree=1,gccheckmark=1").unwrap();
    Runtime::new(cfg).unwrap()
}

fn check_memstats(s: &MemStats) {
    // Go's TestMemStats identities.
    assert_eq!(
        s.sys,
        s.heap_sys
            + s.stack_sys
            + s.mspan_sys
            + s.mcache_sys
            + s.buck_hash_sys
            + s.gc_sys
            + s.other_sys
    );
    assert_eq!(s.heap_idle + s.heap_inuse, s.heap_sys, "{s:?}");
    assert_eq!(s.heap_objects, s.mallocs - s.frees);
    assert_eq!(s.alloc, s.heap_alloc);
    assert!(s.heap_alloc <= s.heap_inuse);
    assert!(s.heap_released <= s.heap_idle);
    assert_eq!(s.lookups, 0);
    assert!(s.enable_gc && !s.debug_gc);
    assert!(s.num_forced_gc <= s.num_gc);
    assert!(s.total_alloc >= s.heap_alloc);
    assert!(s.next_gc > 0);
    if s.num_gc > 0 && s.num_gc < 256 {
        let sum: u64 = s.pause_ns.iter().sum();
        assert_eq!(s.pause_total_ns, sum);
        assert_eq!(s.last_gc, s.pause_end[(s.num_gc as usize + 255) % 256]);
        for i in s.num_gc as usize..256 {
            assert_eq!(s.pause_ns[i], 0, "unused pause slot {i} is set");
        }
    }
    assert!(s.gc_cpu_fraction >= 0.0 && s.gc_cpu_fraction < 1.0);
}

fn list<'s>(m: &mut Mutator<'s>, n: u64) -> Local<'s, Node> {
    // Prepend n-1, ..., 0 through a one-slot holder so the root stack stays constant.
    let holder = m.alloc_array::<Node>(1).unwrap();
    for i in (0..n).rev() {
        m.scope(|m| {
            let c = m.alloc::<Node>().unwrap();
            m.write(c, Node::id, i);
            let head = m.array_get(holder, 0);
            m.set(c, Node::next, head);
            m.array_set(holder, 0, Some(c));
        });
        if i % 1024 == 0 {
            m.safepoint();
        }
    }
    m.array_get(holder, 0).unwrap()
}

fn walk(m: &mut Mutator<'_>, head: Local<'_, Node>) -> u64 {
    m.scope(|m| {
        let mut n = 0;
        let mut cur = Some(head);
        while let Some(c) = cur {
            assert_eq!(m.read(c, Node::id), n, "list corrupted at {n}");
            n += 1;
            cur = m.get(c, Node::next);
        }
        n
    })
}

#[test]
fn deep_nesting_a_million_node_list_survives_collection() {
    let rt = rt(2);
    let n = rt
        .go(|m| {
            let head = list(m, 1_000_000);
            m.gc();
            m.gc();
            walk(m, head)
        })
        .join()
        .unwrap();
    assert_eq!(n, 1_000_000);
    let s = rt.read_mem_stats();
    check_memstats(&s);
    assert!(s.num_gc >= 2);
}

#[test]
fn large_pointer_array_keeps_every_element() {
    let rt = rt(2);
    rt.go(|m| {
        let n = 300_000;
        let arr = m.alloc_array::<Node>(n).unwrap();
        m.scope(|m| {
            for i in 0..n {
                let x = m.alloc::<Node>().unwrap();
                m.write(x, Node::id, i as u64);
                m.array_set(arr, i, Some(x));
                if i % 4096 == 0 {
                    m.scope(|_| ());
                }
            }
        });
        m.gc();
        m.scope(|m| {
            for i in (0..n).step_by(7) {
                let x = m.array_get(arr, i).unwrap();
                assert_eq!(m.read(x, Node::id), i as u64);
            }
        });
    })
    .join()
    .unwrap();
}

#[test]
fn garbage_is_reclaimed_and_the_heap_stays_bounded() {
    let rt = rt(2);
    rt.go(|m| {
        let keep = list(m, 10_000);
        for _ in 0..200 {
            // 100k garbage nodes (~3 MB) per round: 600 MB in all.
            m.scope(|m| {
                for _ in 0..100_000 {
                    m.alloc::<Node>().unwrap();
                }
            });
        }
        assert_eq!(walk(m, keep), 10_000);
    })
    .join()
    .unwrap();
    let s = rt.read_mem_stats();
    check_memstats(&s);
    assert!(s.num_gc > 5, "only {} cycles for 600 MB of garbage", s.num_gc);
    assert!(s.heap_inuse < 64 << 20, "heap grew to {} bytes", s.heap_inuse);
    assert!(s.frees > 10_000_000);
}

#[test]
fn gogc_off_runs_only_forced_cycles() {
    let cfg = Config::default().gomaxprocs(2).gogc(GcPercent::Off);
    let rt = Runtime::new(cfg).unwrap();
    rt.go(|m| {
        m.scope(|m| {
            for _ in 0..500_000 {
                m.alloc::<Node>().unwrap();
            }
        });
    })
    .join()
    .unwrap();
    let s = rt.read_mem_stats();
    assert_eq!(s.num_gc, 0);
    rt.gc();
    let s = rt.read_mem_stats();
    assert_eq!((s.num_gc, s.num_forced_gc), (1, 1));
    check_memstats(&s);
    assert!(s.heap_alloc < 1 << 20, "garbage survived a forced cycle: {}", s.heap_alloc);
}

#[test]
fn set_gc_percent_moves_the_goal() {
    let rt = rt(2);
    let g = rt.global::<Node>();
    rt.go(move |m| {
        let head = list(m, 400_000); // ~12 MB live
        m.set_global(g, Some(head));
    })
    .join()
    .unwrap();
    rt.gc();
    let live = rt.read_mem_stats().heap_alloc;
    let goal100 = rt.read_mem_stats().next_gc;
    assert!(
        goal100 as f64 > live as f64 * 1.8 && (goal100 as f64) < live as f64 * 2.3,
        "{goal100} vs live {live}"
    );
    assert_eq!(rt.set_gc_percent(50), 100);
    let goal50 = rt.read_mem_stats().next_gc;
    assert!(goal50 < goal100 && goal50 as f64 > live as f64 * 1.3, "{goal50} vs {goal100}");
    assert_eq!(rt.set_gc_percent(-1), 50);
}

#[test]
fn an_object_reachable_only_from_a_dropped_root_is_collected_and_others_are_not() {
    let rt = rt(2);
    let g = rt.global::<Node>();
    rt.go(move |m| {
        let keep = m.alloc::<Node>().unwrap();
        m.write(keep, Node::id, 7);
        m.set_global(g, Some(keep));
        let dropped = m.scope(|m| m.alloc::<Node>().unwrap().addr());
        m.gc();
        assert!(m.global(g).is_some());
        // The dropped object's slot was freed (and clobbered: clobberfree is on).
        // SAFETY: the span stays mapped; reading a freed slot's first word is the check.
        let word = unsafe { *(dropped as *const u64) };
        assert_eq!(word, gomem::allocator::mspan::CLOBBER_PATTERN);
        let k = m.global(g).unwrap();
        assert_eq!(m.read(k, Node::id), 7);
    })
    .join()
    .unwrap();
}

#[test]
fn memstats_are_consistent_after_every_cycle() {
    let rt = rt(2);
    for round in 0..5 {
        rt.go(|m| {
            let _keep = list(m, 50_000);
            m.gc();
        })
        .join()
        .unwrap();
        let s = rt.read_mem_stats();
        check_memstats(&s);
        assert!(s.num_gc > round);
    }
}

/// The pacer's steady state with a fixed live heap and a fast allocator of garbage: cycles
/// are spaced by the trigger (each lets the program allocate at least ~60 % of the live heap,
/// so they cannot run back to back), and mark assists hold the allocator back during mark
/// (an assist with nothing to scan parks until the workers earn credit), so the bytes
/// allocated black during mark stay bounded. Like Go, objects allocated during mark count as
/// marked, so the goal is twice the live heap plus twice that runway: 2.5–4.5× live here,
/// where garbage is allocated about as fast as the heap can be marked. Without parking, a cycle once
/// ended with 216 MiB "marked" over 32 MiB live, and the goal jumped to 433 MiB.
#[test]
fn assists_keep_the_heap_near_its_goal_and_cycles_follow_the_trigger() {
    const LIVE_NODES: u64 = 1 << 20; // 24 MiB of nodes + an 8 MiB array: ~32 MiB live
    const GARBAGE: u64 = 640 << 20;
    let rt = Runtime::new(Config::default().gomaxprocs(1).gogc(GcPercent::Percent(100))).unwrap();
    let live_bytes = LIVE_NODES * 24 + LIVE_NODES * 8;
    let (cycles, max_goal) = rt
        .go(|m| {
            let keep = m.alloc_array::<Node>(LIVE_NODES as usize).unwrap();
            for i in 0..LIVE_NODES as usize {
                m.scope(|m| {
                    let n = m.alloc::<Node>().unwrap();
                    m.array_set(keep, i, Some(n));
                });
            }
            m.gc(); // start the measurement from a known goal
            let before = m.num_gc();
            let (mut allocated, mut seen, mut max_goal) = (0, before, 0);
            while allocated < GARBAGE {
                m.scope(|m| {
                    m.alloc_bytes(1024).unwrap();
                });
                allocated += 1024;
                if m.num_gc() != seen {
                    seen = m.num_gc();
                    max_goal = max_goal.max(m.heap_goal());
                }
            }
            assert!(m.array_get(keep, LIVE_NODES as usize - 1).is_some());
            (m.num_gc() - before, max_goal)
        })
        .join()
        .unwrap();
    let most = GARBAGE / (live_bytes * 6 / 10) + 2;
    assert!(
        (3..=most as u32).contains(&cycles),
        "{cycles} cycles for {} MiB of garbage over {} MiB live (expected 3..={most})",
        GARBAGE >> 20,
        live_bytes >> 20
    );
    assert!(
        max_goal <= 6 * live_bytes,
        "heap goal reached {} MiB over {} MiB live",
        max_goal >> 20,
        live_bytes >> 20
    );
}
