//! The goroutine log and the resident-set reader (the exporters' tests are in gomem-benches).

use super::*;

#[test]
fn goroutine_log_records_only_while_enabled() {
    let log = Arc::new(GoroutineLog::default());
    drop(log.begin(1, Instant::now())); // begin is called only when enabled; it records anyway
    assert_eq!(log.take().len(), 1);
    log.set_enabled(true);
    assert!(log.is_enabled());
    let run = log.begin(7, Instant::now());
    assert_eq!(log.take()[0].ended, None, "still running");
    drop(run); // its entry was taken: dropping must not panic or record elsewhere
    assert!(log.take().is_empty());
    let run = log.begin(8, Instant::now());
    drop(run);
    let spans = log.take();
    assert_eq!(spans.len(), 1);
    assert!(spans[0].ended.is_some_and(|e| e >= spans[0].started), "{spans:?}");
}

#[test]
fn resident_set_is_read_from_proc() {
    let rss = resident_set_bytes().expect("/proc/self/status has VmRSS");
    assert!(rss > 1 << 20, "{rss}");
}
