//! A burst of live data, dropped, then a long quiet tail: what happens to the resident set when
//! a program's live heap shrinks (a server after a traffic spike, a batch job between phases).
//! This is the scavenger's workload: the memory the burst needed should go back to the OS while
//! the program keeps running, without the program having to ask.
//!
//! 1. **Build**: the goroutines build `peak` bytes of live data: tables of 1024 pointers
//!    ([`TABLE_LEN`]), each pointing at a 1 KiB pointer-free buffer ([`BUFFER_SIZE`]), so 1 MiB
//!    of buffers per table. Every byte of every buffer is written (fresh pages are not resident
//!    until touched, in either runtime): the first 8 bytes hold the buffer's id, little-endian,
//!    the rest the id's low byte. Table `t` (numbered across goroutines, goroutine `t %
//!    goroutines` builds it) holds buffers `t * 1024 + 1` to `t * 1024 + 1024`.
//! 2. **Drop**: when every goroutine has built its tables, each drops all tables numbered
//!    `keep / 1 MiB` and above: only `keep` bytes stay live.
//! 3. **Tail**: for `duration` seconds the goroutines keep allocating 1 KiB garbage buffers at
//!    `rate` bytes per second in all (in 10 ms batches, sleeping in between without a P), which
//!    keeps GC cycles coming at the pace a quiet program would see.
//! 4. **Check**: each goroutine walks its kept tables, checks every buffer's contents, and sums
//!    the ids; the check value is the sum over all goroutines, which depends on `keep` alone:
//!    `1 + 2 + ... + kept_tables * 1024` ([`Params::expected_check`]).
//!
//! Metrics (also in the Go twin): `drop_at_ms` (when the last goroutine dropped its tables, ms
//! after the start), `rss_at_drop_bytes` (the process's resident set then), `rss_end_bytes`
//! (at the end of the tail), `tail_alloc_bytes` (garbage allocated in the tail). The report's
//! `rss_samples` give the resident set every 100 ms throughout.

use super::{validate_goroutines, Outcome, Param, Progress, WorkloadError};
use gomem::sync::{AtomicU64, Ordering};
use gomem::{AllocError, Bytes, Local, Mutator, PtrArray, Runtime};
use std::fmt::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bytes per buffer.
pub const BUFFER_SIZE: u64 = 1024;

/// Buffers per table.
pub const TABLE_LEN: u64 = 1024;

/// Bytes of buffers per table (1 MiB).
pub const TABLE_BYTES: u64 = BUFFER_SIZE * TABLE_LEN;

/// The tail allocates in batches this far apart.
const TICK: Duration = Duration::from_millis(10);

/// The parameters of a run (`gomem run burst --peak SIZE --keep SIZE --duration S --rate
/// SIZE --goroutines K`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    /// Bytes of buffers built in the burst (whole MiB tables, rounded down).
    pub peak: u64,
    /// Bytes of buffers kept after the drop (whole tables, rounded down).
    pub keep: u64,
    /// Length of the tail after the drop, ms (`--duration` takes seconds).
    pub duration_ms: u64,
    /// Garbage allocated per second in the tail, bytes, all goroutines together.
    pub rate: u64,
    /// Goroutines sharing the tables and the tail.
    pub goroutines: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            peak: 256 << 20,
            keep: 16 << 20,
            duration_ms: 10_000,
            rate: 64 << 20,
            goroutines: 1,
        }
    }
}

/// The longest tail accepted, ms.
const MAX_DURATION_MS: u64 = 3_600_000;

impl Params {
    /// Tables built.
    pub fn tables(&self) -> u64 {
        self.peak / TABLE_BYTES
    }

    /// Tables kept after the drop.
    pub fn kept_tables(&self) -> u64 {
        self.keep / TABLE_BYTES
    }

    /// The check value: the sum of the ids of the kept buffers.
    pub fn expected_check(&self) -> u64 {
        let n = self.kept_tables() * TABLE_LEN;
        n * (n + 1) / 2
    }

    /// For reports.
    pub fn parameters(&self) -> Vec<(&'static str, Param)> {
        vec![
            ("peak", Param::Uint(self.peak)),
            ("keep", Param::Uint(self.keep)),
            ("duration_ms", Param::Uint(self.duration_ms)),
            ("rate", Param::Uint(self.rate)),
            ("goroutines", Param::Uint(self.goroutines)),
        ]
    }

    /// The flags that reproduce these parameters.
    pub fn args(&self) -> Vec<String> {
        vec![
            "--peak".into(),
            self.peak.to_string(),
            "--keep".into(),
            self.keep.to_string(),
            "--duration".into(),
            format_seconds(self.duration_ms),
            "--rate".into(),
            self.rate.to_string(),
            "--goroutines".into(),
            self.goroutines.to_string(),
        ]
    }

    /// The live set's lower bound at the peak: every table's buffers and its 1024 pointers
    /// (see [`super::fit`]). `--rate` is garbage, reclaimed as the tail goes: not checked.
    pub fn live_estimate(&self) -> super::fit::LiveEstimate {
        let bytes = self.tables().saturating_mul(TABLE_BYTES + TABLE_LEN * 8);
        super::fit::LiveEstimate::size("--peak", self.peak, bytes)
    }

    /// At least one table per goroutine, `keep <= peak`, a tail of at most an hour.
    pub fn validate(&self) -> Result<(), String> {
        validate_goroutines(self.goroutines)?;
        if self.tables() < self.goroutines {
            return Err(format!(
                "--peak {}: at least one 1 MiB table per goroutine ({} bytes for {} goroutines)",
                self.peak,
                TABLE_BYTES * self.goroutines,
                self.goroutines
            ));
        }
        if self.keep > self.peak {
            return Err(format!(
                "--keep {} is larger than --peak {}: the kept data is part of the burst",
                self.keep, self.peak
            ));
        }
        if self.duration_ms > MAX_DURATION_MS {
            return Err(format!(
                "--duration {}: at most {} seconds",
                format_seconds(self.duration_ms),
                MAX_DURATION_MS / 1000
            ));
        }
        Ok(())
    }
}

/// Seconds for the `--duration` flag: `5`, `2.5`, `0.25`.
pub fn format_seconds(ms: u64) -> String {
    if ms % 1000 == 0 {
        (ms / 1000).to_string()
    } else {
        let s = format!("{}.{:03}", ms / 1000, ms % 1000);
        s.trim_end_matches('0').to_owned()
    }
}

/// Parse `--duration`: a non-negative decimal number of seconds with at most 3 decimals.
pub fn parse_seconds(s: &str) -> Result<u64, String> {
    let bad = || format!("not a duration: {s:?}: expected seconds such as 5, 2.5 or 0.25");
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 3
        || (s.contains('.') && frac.is_empty())
    {
        return Err(bad());
    }
    let whole: u64 = if int.is_empty() { 0 } else { int.parse().map_err(|_| bad())? };
    let milli: u64 = format!("{frac:0<3}").parse().map_err(|_| bad())?;
    whole.checked_mul(1000).and_then(|w| w.checked_add(milli)).ok_or_else(bad)
}

/// What the goroutines share.
struct Shared {
    /// Goroutines that finished building.
    built: AtomicU64,
    /// Goroutines that dropped their tables.
    dropped: AtomicU64,
    /// ns after `t0` of the last drop.
    drop_ns: AtomicU64,
    /// Process RSS right after the last drop.
    rss_at_drop: AtomicU64,
    /// Garbage allocated in the tail, bytes.
    tail_bytes: AtomicU64,
    t0: Instant,
}

/// The contents of buffer `id`.
fn buffer_image(id: u64) -> [u8; BUFFER_SIZE as usize] {
    let mut b = [id as u8; BUFFER_SIZE as usize];
    b[..8].copy_from_slice(&id.to_le_bytes());
    b
}

/// Build table `t`.
fn build_table<'s>(m: &mut Mutator<'s>, t: u64) -> Result<Local<'s, PtrArray<Bytes>>, AllocError> {
    let table = m.alloc_array::<Bytes>(TABLE_LEN as usize)?;
    for j in 0..TABLE_LEN {
        m.scope(|m| -> Result<(), AllocError> {
            let b = m.alloc_bytes(BUFFER_SIZE as usize)?;
            m.write_bytes(b, 0, &buffer_image(t * TABLE_LEN + j + 1));
            m.array_set(table, j as usize, Some(b));
            Ok(())
        })?;
    }
    Ok(table)
}

/// One goroutine's run; returns the sum of the ids in its kept tables.
fn burst_goroutine(
    m: &mut Mutator<'_>,
    p: &Params,
    g: u64,
    sh: &Shared,
    progress: &Progress,
) -> Result<u64, WorkloadError> {
    let k = p.goroutines;
    let mine: Vec<u64> = (0..p.tables()).filter(|t| t % k == g).collect();
    let top = m.alloc_array::<PtrArray<Bytes>>(mine.len())?;
    for (i, &t) in mine.iter().enumerate() {
        m.scope(|m| -> Result<(), AllocError> {
            let table = build_table(m, t)?;
            m.array_set(top, i, Some(table));
            Ok(())
        })?;
        progress.advance(TABLE_LEN);
    }
    // Wait for the others, so the drop is one moment for the whole program.
    sh.built.fetch_add(1, Ordering::Relaxed);
    while sh.built.load(Ordering::Relaxed) < k {
        m.without_p(|| std::thread::sleep(Duration::from_millis(1)));
    }
    for (i, &t) in mine.iter().enumerate() {
        if t >= p.kept_tables() {
            m.array_set(top, i, None);
        }
    }
    sh.drop_ns.fetch_max(sh.t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
    if sh.dropped.fetch_add(1, Ordering::Relaxed) == k - 1 {
        let rss = gomem_allocator::procfs::process_rss().unwrap_or(0);
        sh.rss_at_drop.store(rss, Ordering::Relaxed);
    }

    // The tail: garbage at this goroutine's share of the rate, in 10 ms batches.
    let per_tick = (p.rate / k) / (1000 / TICK.as_millis() as u64);
    let start = Instant::now();
    let end = start + Duration::from_millis(p.duration_ms);
    let mut next = start;
    let mut owed = 0u64;
    while Instant::now() < end {
        owed += per_tick;
        while owed >= BUFFER_SIZE {
            m.scope(|m| -> Result<(), AllocError> {
                let b = m.alloc_bytes(BUFFER_SIZE as usize)?;
                m.write_bytes(b, 0, &owed.to_le_bytes());
                Ok(())
            })?;
            owed -= BUFFER_SIZE;
            sh.tail_bytes.fetch_add(BUFFER_SIZE, Ordering::Relaxed);
        }
        next += TICK;
        let now = Instant::now();
        if next > now {
            let d = (next - now).min(end.saturating_duration_since(now));
            m.without_p(|| std::thread::sleep(d));
        }
    }

    // Check what was kept.
    let mut sum = 0u64;
    for (i, &t) in mine.iter().enumerate() {
        if t >= p.kept_tables() {
            continue;
        }
        sum = m.scope(|m| -> Result<u64, WorkloadError> {
            let table = m.array_get(top, i).ok_or_else(|| corrupt(t, 0, "table is nil"))?;
            let mut sum = sum;
            for j in 0..TABLE_LEN {
                sum = m.scope(|m| -> Result<u64, WorkloadError> {
                    let b = m
                        .array_get(table, j as usize)
                        .ok_or_else(|| corrupt(t, j, "buffer is nil"))?;
                    let id = t * TABLE_LEN + j + 1;
                    let mut got = [0u8; BUFFER_SIZE as usize];
                    m.read_bytes(b, 0, &mut got);
                    if got != buffer_image(id) {
                        return Err(corrupt(t, j, "contents changed"));
                    }
                    Ok(sum.wrapping_add(id))
                })?;
            }
            Ok(sum)
        })?;
    }
    Ok(sum)
}

fn corrupt(t: u64, j: u64, what: &str) -> WorkloadError {
    WorkloadError::Corrupt(format!("burst: table {t} buffer {j}: {what}"))
}

/// Run burst with `p` on `rt`. Progress is counted in buffers built.
pub fn run(rt: &Runtime, p: &Params, progress: &Arc<Progress>) -> Result<Outcome, WorkloadError> {
    let k = p.goroutines;
    progress.set_total(p.tables() * TABLE_LEN);
    let shared = Arc::new(Shared {
        built: AtomicU64::new(0),
        dropped: AtomicU64::new(0),
        drop_ns: AtomicU64::new(0),
        rss_at_drop: AtomicU64::new(0),
        tail_bytes: AtomicU64::new(0),
        t0: Instant::now(),
    });
    let handles: Vec<_> = (0..k)
        .map(|g| {
            let (p, sh, progress) = (p.clone(), shared.clone(), progress.clone());
            rt.go(move |m| burst_goroutine(m, &p, g, &sh, &progress))
        })
        .collect();
    let mut check = 0u64;
    let mut err = None;
    for h in handles {
        match h.join().expect("burst goroutine") {
            Ok(s) => check = check.wrapping_add(s),
            Err(e) => err = err.or(Some(e)),
        }
    }
    if let Some(e) = err {
        return Err(e);
    }
    let rss_end = gomem_allocator::procfs::process_rss().unwrap_or(0);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "burst: built {} tables of {} buffers of {BUFFER_SIZE} bytes in {k} goroutines, kept {}",
        p.tables(),
        TABLE_LEN,
        p.kept_tables()
    );
    let _ = writeln!(out, "check: {check}");
    let metrics = vec![
        ("drop_at_ms", shared.drop_ns.load(Ordering::Relaxed) / 1_000_000),
        ("rss_at_drop_bytes", shared.rss_at_drop.load(Ordering::Relaxed)),
        ("rss_end_bytes", rss_end),
        ("tail_alloc_bytes", shared.tail_bytes.load(Ordering::Relaxed)),
    ];
    Ok(Outcome { output: out, check, metrics })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_parse_and_format() {
        for (s, ms) in [("5", 5000), ("2.5", 2500), ("0.25", 250), (".5", 500), ("0", 0)] {
            assert_eq!(parse_seconds(s), Ok(ms), "{s}");
        }
        for ms in [5000, 2500, 250, 1, 0, 61_001] {
            assert_eq!(parse_seconds(&format_seconds(ms)), Ok(ms));
        }
        assert_eq!(format_seconds(2500), "2.5");
        for bad in ["", ".", "1.", "-1", "1.2345", "1e3", "abc", "1 s"] {
            assert!(parse_seconds(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn check_value_counts_the_kept_buffers() {
        let p = Params { peak: 8 << 20, keep: 2 << 20, ..Params::default() };
        assert_eq!((p.tables(), p.kept_tables()), (8, 2));
        assert_eq!(p.expected_check(), (1..=2048u64).sum::<u64>());
        assert!(Params { keep: 9 << 20, ..p.clone() }.validate().is_err());
        assert!(Params { goroutines: 9, ..p.clone() }.validate().is_err());
        assert!(p.validate().is_ok());
    }
}
