//! Refusing a run the machine cannot hold, before it starts.
//!
//! A workload's parameters decide a lower bound on its live memory: bytes that are reachable at
//! the same moment whatever the collector does (burst's tables at the peak, churn's live set,
//! binary-trees' stretch tree). Each workload's `Params::live_estimate` gives that bound and the
//! flag that sets it; [`check`] compares it with the memory the run can have ([`Bound`]): the
//! machine's physical memory, the cgroup's `memory.max` when one is set, and GOMEMLIMIT when it
//! is set (a live set over the soft limit can never fit under it: the collector would run
//! back to back and the limit would still be exceeded). A run over a bound is a usage error
//! naming the flag, its value and the bound, so `gomem run burst --peak 1TiB` fails at once
//! instead of growing until the kernel kills it.
//!
//! The estimates are lower bounds on purpose: a run refused is certainly impossible, a run
//! accepted may still be too big (heap overhead, fragmentation, GOGC's headroom), which the
//! run itself then reports. Sizes that are allocation volume rather than live data (churn's
//! `--total`, alloc's `--count`, burst's `--rate`) bound the run's time, not its memory, and are
//! not checked here.

use super::format_size;

/// A lower bound on a run's live memory and the flag that decides it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveEstimate {
    /// The flag whose value the bound follows, e.g. `--peak`.
    pub flag: &'static str,
    /// The flag's value as it would be typed, e.g. `1TiB`.
    pub value: String,
    /// Bytes that are live at the same moment, at least.
    pub bytes: u64,
}

impl LiveEstimate {
    /// The estimate for `flag` set to the size `value` (bytes), needing `bytes` live.
    pub fn size(flag: &'static str, value: u64, bytes: u64) -> LiveEstimate {
        LiveEstimate { flag, value: format_flag_size(value), bytes }
    }
}

/// Memory a run can have, and what sets it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bound {
    /// Bytes.
    pub bytes: u64,
    /// What the bound is, for the error: `this machine's 23.5 GiB of memory`.
    pub what: String,
}

impl Bound {
    /// The bounds that apply to a run here: physical memory, the cgroup's `memory.max` when it
    /// is set, and `memory_limit` (the effective GOMEMLIMIT) when it is set. Bounds that cannot
    /// be read are left out.
    pub fn detect(memory_limit: Option<u64>) -> Vec<Bound> {
        let mut bounds = Vec::new();
        if let Some(b) = physical_memory() {
            bounds.push(Bound {
                bytes: b,
                what: format!("this machine's {} of memory", format_size(b)),
            });
        }
        if let Some(b) = cgroup_limit() {
            bounds.push(Bound {
                bytes: b,
                what: format!("this cgroup's memory.max of {}", format_size(b)),
            });
        }
        if let Some(b) = memory_limit {
            bounds.push(Bound { bytes: b, what: format!("GOMEMLIMIT's {}", format_size(b)) });
        }
        bounds
    }
}

/// Check `estimate` against the smallest of `bounds`: the error names the flag, its value and
/// the bound, e.g. `--peak 1TiB: the live set needs at least 1.00 TiB, more than this machine's
/// 23.5 GiB of memory`. A live set equal to a bound is accepted.
pub fn check(estimate: &LiveEstimate, bounds: &[Bound]) -> Result<(), String> {
    match bounds.iter().min_by_key(|b| b.bytes) {
        Some(b) if estimate.bytes > b.bytes => Err(format!(
            "{} {}: the live set needs at least {}, more than {}",
            estimate.flag,
            estimate.value,
            format_size(estimate.bytes),
            b.what
        )),
        _ => Ok(()),
    }
}

/// A size as a flag takes it: the largest unit that divides it exactly (`1TiB`, `1536KiB`,
/// `100`).
pub fn format_flag_size(b: u64) -> String {
    const UNITS: [(&str, u64); 4] =
        [("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    match UNITS.iter().find(|&&(_, m)| b != 0 && b % m == 0) {
        Some(&(u, m)) => format!("{}{u}", b / m),
        None => b.to_string(),
    }
}

/// Physical memory: `sysconf(_SC_PHYS_PAGES)` pages of `sysconf(_SC_PAGESIZE)` bytes.
fn physical_memory() -> Option<u64> {
    // SAFETY: sysconf reads a system constant; it has no preconditions.
    let (pages, page) =
        unsafe { (libc::sysconf(libc::_SC_PHYS_PAGES), libc::sysconf(libc::_SC_PAGESIZE)) };
    let (pages, page) = (u64::try_from(pages).ok()?, u64::try_from(page).ok()?);
    pages.checked_mul(page).filter(|&b| b > 0)
}

/// The cgroup v2 limit, `/sys/fs/cgroup/memory.max`, when it is a number (not `max`).
fn cgroup_limit() -> Option<u64> {
    let s = std::fs::read_to_string("/sys/fs/cgroup/memory.max").ok()?;
    s.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound(bytes: u64) -> Bound {
        Bound { bytes, what: format!("a bound of {bytes}") }
    }

    #[test]
    fn over_the_smallest_bound_is_refused_naming_flag_value_and_bound() {
        let e = LiveEstimate::size("--peak", 1 << 40, 1 << 40);
        let err = check(&e, &[bound(8 << 30), bound(1 << 30)]).unwrap_err();
        assert_eq!(
            err,
            "--peak 1TiB: the live set needs at least 1.00 TiB, more than a bound of 1073741824"
        );
    }

    #[test]
    fn at_or_under_the_bound_is_accepted() {
        let e = LiveEstimate::size("--live", 1 << 30, 1 << 30);
        assert_eq!(check(&e, &[bound(1 << 30)]), Ok(()));
        assert_eq!(check(&e, &[]), Ok(()));
        assert!(check(&LiveEstimate { bytes: (1 << 30) + 1, ..e }, &[bound(1 << 30)]).is_err());
    }

    #[test]
    fn flag_sizes_use_the_largest_exact_unit() {
        assert_eq!(format_flag_size(1 << 40), "1TiB");
        assert_eq!(format_flag_size(1536 << 10), "1536KiB");
        assert_eq!(format_flag_size(100), "100");
        assert_eq!(format_flag_size(0), "0");
    }

    #[test]
    fn this_machine_has_some_memory() {
        let b = Bound::detect(Some(64 << 20));
        assert!(b.iter().any(|b| b.what.starts_with("this machine's") && b.bytes > 0));
        assert!(b.iter().any(|b| b.what == "GOMEMLIMIT's 64.0 MiB"));
    }

    /// Each workload's estimate at a size that just fits a bound is accepted, one step larger
    /// is refused: the check refuses nothing the bound could hold by the estimate.
    #[test]
    fn workload_estimates_just_under_a_bound_are_accepted() {
        use crate::workloads::{alloc, binary_trees, burst, churn, gcbench, latency, Spec};
        let fits = |s: &Spec, b: u64| s.check_fits(&[bound(b)]).is_ok();
        // burst: 256 tables of 1 MiB of buffers and 8 KiB of pointers.
        let burst = |peak| Spec::Burst(burst::Params { peak, ..Default::default() });
        let need = 256 * ((1 << 20) + 8192);
        assert!(fits(&burst(256 << 20), need) && !fits(&burst(256 << 20), need - 1));
        assert!(fits(&burst((257 << 20) - 1), need), "a partial table is not built");
        // churn: --live itself; --total is not live.
        let churn = |live, total| Spec::Churn(churn::Params { live, total, ..Default::default() });
        assert!(
            fits(&churn(64 << 20, 1 << 50), 64 << 20)
                && !fits(&churn(64 << 20, 1 << 50), (64 << 20) - 1)
        );
        // binary-trees: the stretch tree of depth + 1, 16-byte nodes.
        let bt = |depth| Spec::BinaryTrees(binary_trees::Params { depth, goroutines: 1 });
        let nodes = (1u64 << 22) - 1;
        assert!(fits(&bt(20), nodes * 16) && !fits(&bt(20), nodes * 16 - 1));
        assert!(fits(&bt(0), 255 * 16), "depths under 6 run at 6");
        // gcbench: the classic stretch tree (2^19 - 1 nodes of 24 bytes) is the larger part.
        let gc = |scale| Spec::GcBench(gcbench::Params { scale, goroutines: 1 });
        let stretch = ((1u64 << 19) - 1) * 24;
        assert!(fits(&gc(0), stretch) && !fits(&gc(0), stretch - 1));
        // latency: the rings; alloc: one object per goroutine.
        let lat =
            Spec::Latency(latency::Params { buffers: 1000, size: 1024, steps: 1, goroutines: 2 });
        assert!(fits(&lat, 1000 * 1024) && !fits(&lat, 1000 * 1024 - 1));
        let al = Spec::Alloc(alloc::Params {
            size: 4096,
            count: u64::MAX,
            pointers: false,
            goroutines: 4,
        });
        assert!(fits(&al, 4 * 4096) && !fits(&al, 4 * 4096 - 1));
    }
}
