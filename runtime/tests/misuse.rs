//! Misuse that used to hang, corrupt or leave goroutines running on a dead runtime (issue 12, S8
//! and item 3): each call now panics with a message naming it and what to use instead, waits,
//! or reports. Hangs are caught by running the body on a thread with a deadline (a liveness
//! check, not a performance assertion).
#![allow(missing_docs)] // test-only heap types

use gomem::sync::{AtomicBool, Ordering::SeqCst};
use gomem::{gc_object, Config, Gc, Local, Mutator, Runtime};
use std::io::{BufRead, BufReader, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

gc_object! {
    /// A list cell with a payload.
    pub struct Cell {
        pub next: Gc<Cell>,
        pub value: u64,
    }
}

fn rt(procs: usize) -> Runtime {
    Runtime::new(Config::default().gomaxprocs(procs)).expect("runtime")
}

/// Run `f` on its own thread; fail if it has not finished after 30 s (it hung).
fn finishes<R: Send + 'static>(what: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(catch_unwind(AssertUnwindSafe(f)));
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(Ok(r)) => r,
        Ok(Err(p)) => std::panic::resume_unwind(p),
        Err(_) => panic!("{what}: did not finish in 30 s (hung)"),
    }
}

/// The message of the panic `f` raises; fails if it does not panic.
fn panic_message(what: &str, f: impl FnOnce()) -> String {
    let p = catch_unwind(AssertUnwindSafe(f)).expect_err(what);
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

fn build_list<'s>(m: &mut Mutator<'s>, n: u64) -> Option<Local<'s, Cell>> {
    let mut head = None;
    for v in (0..n).rev() {
        let c = m.alloc::<Cell>().unwrap();
        m.write(c, Cell::value, v);
        m.set(c, Cell::next, head);
        head = Some(c);
    }
    head
}

fn check_list(m: &mut Mutator<'_>, head: Option<Local<'_, Cell>>, n: u64) {
    m.scope(|m| {
        let (mut cur, mut v) = (head, 0);
        while let Some(c) = cur {
            assert_eq!(m.read(c, Cell::value), v, "list corrupted");
            v += 1;
            cur = m.get(c, Cell::next);
        }
        assert_eq!(v, n, "list cut short");
    });
}

#[test]
fn runtime_calls_that_stop_the_world_panic_on_a_goroutine_with_a_p() {
    finishes("stop-the-world calls from a goroutine", || {
        let main = Arc::new(rt(2));
        let r = main.clone();
        main.go(move |m| {
            let msg = panic_message("gc", || r.gc());
            assert!(msg.contains("Runtime::gc") && msg.contains("Mutator::gc"), "{msg}");
            assert!(msg.contains("of this runtime"), "{msg}");
            let calls: [(&str, &dyn Fn()); 4] = [
                ("Runtime::read_mem_stats", &|| {
                    let _ = r.read_mem_stats();
                }),
                ("Runtime::free_os_memory", &|| {
                    r.free_os_memory();
                }),
                ("Runtime::ledger", &|| {
                    r.ledger();
                }),
                ("Runtime::stop_the_world", &|| drop(r.stop_the_world("misuse"))),
            ];
            for (call, f) in calls {
                let msg = panic_message(call, f);
                assert!(msg.contains(call) && msg.contains("Mutator::without_p"), "{msg}");
            }
            // The goroutine is still usable, and without its P every call works.
            let head = build_list(m, 100);
            m.without_p(|| {
                r.gc();
                let _ = r.read_mem_stats();
                r.free_os_memory();
                r.ledger();
                drop(r.stop_the_world("without a P"));
            });
            check_list(m, head, 100);
        })
        .join()
        .unwrap();
        // A goroutine of another runtime is refused too (it would hold its own runtime's stops).
        let other = Arc::new(rt(1));
        let r = main.clone();
        let msg = other.go(move |_| panic_message("gc from another runtime", || r.gc())).join();
        let msg = msg.unwrap();
        assert!(msg.contains("of another runtime"), "{msg}");
    });
}

#[test]
fn join_inside_a_goroutine_panics_and_works_without_the_p() {
    finishes("JoinHandle::join from a goroutine", || {
        // One P: the joined goroutine could never run while the joiner kept it.
        let rt = Arc::new(rt(1));
        let r = rt.clone();
        let v = rt
            .go(move |m| {
                let h = r.go(|m| m.alloc::<Cell>().is_ok());
                let msg = panic_message("join with a P", || drop(h.join()));
                assert!(msg.contains("holds a P") && msg.contains("without_p"), "{msg}");
                let h = r.go(|m| m.alloc::<Cell>().is_ok());
                m.without_p(|| h.join().unwrap())
            })
            .join()
            .unwrap();
        assert!(v);
    });
}

#[test]
fn goroutine_catching_a_panic_from_without_p_keeps_working() {
    finishes("a caught panic from without_p", || {
        let rt = rt(2);
        let hs: Vec<_> = (0..2)
            .map(|_| {
                rt.go(|m| {
                    let head = build_list(m, 500);
                    for round in 0..3 {
                        let r = catch_unwind(AssertUnwindSafe(|| {
                            m.without_p(|| panic!("blocking work failed"))
                        }));
                        assert!(r.is_err());
                        // Back on a P: allocation, stores and cycles work, and the list made
                        // before the panic (rooted on this goroutine) survives the cycles.
                        let more = build_list(m, 200);
                        m.gc();
                        let _garbage = build_list(m, 300);
                        m.gc();
                        check_list(m, head, 500);
                        check_list(m, more, 200);
                        // Mutator::gc's own closure: a panic inside the cycle would unwind the
                        // same way; here just show the world can still stop for it.
                        assert!(m.num_gc() >= 2 * (round + 1));
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().expect("goroutine");
        }
        rt.gc();
        drop(rt.stop_the_world("after"));
    });
}

#[test]
fn drop_waits_for_goroutines_still_running() {
    finishes("drop(Runtime) with a goroutine running", || {
        let rt = rt(1);
        let (tx, rx) = mpsc::channel::<()>();
        let g = rt.go(move |m| {
            let head = build_list(m, 1000);
            m.without_p(|| rx.recv().unwrap());
            // The runtime has been dropped by now (on the old code: its collector is gone).
            let _more = build_list(m, 1000);
            m.gc();
            check_list(m, head, 1000);
        });
        let dropper = thread::spawn(move || drop(rt));
        // The drop must still be waiting while the goroutine is blocked. (If it were not, it
        // would have returned long before this deadline: the check cannot fail spuriously.)
        thread::sleep(Duration::from_millis(300));
        assert!(!dropper.is_finished(), "drop(Runtime) returned while a goroutine still runs");
        tx.send(()).unwrap();
        dropper.join().unwrap();
        // The goroutine finished before the heap went: it is done, not still running.
        g.join().expect("goroutine after drop");
    });
}

#[test]
fn drop_by_its_own_goroutine_panics_and_leaks_the_runtime() {
    finishes("drop(Runtime) on its own goroutine", || {
        let rt = Arc::new(rt(1));
        let mine = rt.clone();
        let (tx, rx) = mpsc::channel::<()>();
        let g = rt.go(move |m| {
            m.without_p(|| rx.recv().unwrap());
            let msg = panic_message("drop on own goroutine", || drop(mine));
            assert!(msg.contains("dropped by its own goroutine"), "{msg}");
            // Leaked, so still alive and collecting.
            let head = build_list(m, 300);
            m.gc();
            check_list(m, head, 300);
        });
        drop(rt); // not the last reference: the goroutine holds the other one
        tx.send(()).unwrap();
        g.join().expect("goroutine");
    });
}

/// The child of the watchdog test: one goroutine spins without a safepoint until the parent
/// writes a line on stdin; the main thread stops the world meanwhile.
fn watchdog_child() {
    let rt = Runtime::from_env().expect("runtime");
    let release = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicBool::new(false));
    let (rel, st) = (release.clone(), started.clone());
    let g = rt.go(move |m| {
        println!("\nwatched-goroutine={}", m.g_id());
        std::io::stdout().flush().unwrap();
        st.store(true, SeqCst);
        // Until the parent releases it; bounded, so a child orphaned by a failing parent ends.
        let spin = std::time::Instant::now();
        while !rel.load(SeqCst) && spin.elapsed() < Duration::from_secs(120) {
            std::hint::spin_loop();
        }
    });
    thread::spawn(move || {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).unwrap();
        release.store(true, SeqCst);
    });
    while !started.load(SeqCst) {
        thread::yield_now();
    }
    drop(rt.stop_the_world("watched"));
    g.join().unwrap();
}

/// Run this test binary again as the watchdog child with `GODEBUG`; release the child as soon
/// as a report line appears on its stderr, or after `quiet` if none does. Returns the child's
/// goroutine id and its stderr.
fn run_watchdog_child(godebug: &str, quiet: Duration) -> (u64, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "stw_watchdog_names_the_goroutine", "--nocapture", "--test-threads=1"])
        .env("GOMEM_MISUSE_CHILD", "watchdog")
        .env("GODEBUG", godebug)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("child");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    // The harness prints its own lines first ("running 1 test").
    let mut line = String::new();
    let id: u64 = loop {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "the child printed no goroutine id");
        if let Some(id) = line.trim().strip_prefix("watched-goroutine=") {
            break id.parse().expect(&line);
        }
    };
    let (tx, rx) = mpsc::channel();
    let err = BufReader::new(child.stderr.take().unwrap());
    thread::spawn(move || {
        for line in err.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut stderr = String::new();
    let deadline = std::time::Instant::now() + quiet;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let report = line.contains("gomem-sched:");
                stderr += &line;
                stderr.push('\n');
                if report {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "go").unwrap();
    drop(stdin);
    let status = child.wait().unwrap();
    stderr.extend(rx.iter().map(|l| l + "\n"));
    assert!(status.success(), "child failed: {stderr}");
    (id, stderr)
}

#[test]
fn stw_watchdog_names_the_goroutine() {
    if std::env::var("GOMEM_MISUSE_CHILD").as_deref() == Ok("watchdog") {
        return watchdog_child();
    }
    finishes("the watchdog test", || {
        // On: the report names the goroutine, its P, the stop's reason and how long it waited.
        // The child is released only once the report is seen, so the spin outlasts any delay.
        let (id, err) = run_watchdog_child("stwwatch=50", Duration::from_secs(20));
        let line =
            err.lines().find(|l| l.contains("gomem-sched:")).unwrap_or_else(|| panic!("{err}"));
        assert!(line.contains("stop the world (\"watched\")"), "{line}");
        assert!(line.contains(&format!("goroutine {id} (running on P 0)")), "{line}");
        assert!(line.contains("ms") && line.contains("safepoint"), "{line}");
        assert!(line.contains("stwwatch=0"), "{line}");
        // Off: a stop held up for longer than the default delay reports nothing.
        let (_, err) = run_watchdog_child("stwwatch=0", Duration::from_millis(1500));
        assert!(!err.contains("gomem-sched:"), "{err}");
    });
}
