//! Configuration: `GOGC`, `GOMEMLIMIT`, `GOMAXPROCS` and `GODEBUG`, from code or the environment.
//!
//! A Go program reads these four variables once, at start-up (`readGOGC` and `readGOMEMLIMIT`
//! in `mgcpacer.go`, `schedinit` in `proc.go`, `parsedebugvars` in `runtime1.go`). gomem reads
//! them when a [`Config`] is built with [`Config::from_env`] (or [`Config::from_vars`], which
//! takes any lookup function and is what the tests use), or they are set from code with the
//! builder methods ([`Config::gogc`], [`Config::memory_limit`], [`Config::gomaxprocs`],
//! [`Config::godebug`]).
//!
//! What is accepted follows Go's own parsers character for character: the same integer syntax
//! (an optional `+` or `-`, then decimal digits; no spaces, no underscores, no `0x`), the same
//! ranges, the same case-sensitive `off` and byte-count suffixes (`B`, `KiB`, `MiB`, `GiB`,
//! `TiB`). Where Go silently falls back to a default on a value it cannot use, gomem returns a
//! [`ConfigError`] that names the variable and the value instead:
//!
//! | input | Go 1.27 | gomem |
//! |---|---|---|
//! | `GOGC=abc`, `GOGC=OFF`, `GOGC=1e3` | uses 100 | error |
//! | `GOMEMLIMIT=1GB` | fatal error at start-up | error |
//! | `GOMAXPROCS=0`, `GOMAXPROCS=-2`, `GOMAXPROCS=x` | uses the CPU count | error |
//! | `GODEBUG=gctrace=x` (bad value for a known key) | keeps the old value | error |
//! | `GODEBUG=gctrace=3` (an integer outside the meaningful set) | behaves as `gctrace=2` | error |
//! | `GODEBUG=nosuchkey=1` (unknown key) | ignored | ignored, recorded in [`Debug::unknown`] |
//!
//! `docs/configuration.md` has the full table of knobs, defaults and effects.

use std::fmt;
use std::num::IntErrorKind;
use std::time::Duration;

use gomem_allocator::os::ReleaseMode;
use gomem_allocator::HeapConfig;
use gomem_collector::cycle::FORCE_GC_PERIOD;

/// Name of the GC percent variable.
const GOGC: &str = "GOGC";
/// Name of the memory limit variable.
const GOMEMLIMIT: &str = "GOMEMLIMIT";
/// Name of the processor count variable.
const GOMAXPROCS: &str = "GOMAXPROCS";
/// Name of the debug knob variable.
const GODEBUG: &str = "GODEBUG";

/// Go's `math.MaxInt64`, 2^63 - 1: Go keeps the memory limit in an `int64`, so this is the
/// largest value GOMEMLIMIT accepts, and it is also Go's "no limit" value. Every smaller value
/// is a limit.
pub const NO_LIMIT: u64 = i64::MAX as u64;

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// A configuration value gomem cannot use.
///
/// Displays as `invalid VAR="value": reason`, for example
/// `invalid GOGC="abc": not an integer or "off"`. For `GODEBUG` the value is the offending
/// `key=value` setting, not the whole variable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The variable: `"GOGC"`, `"GOMEMLIMIT"`, `"GOMAXPROCS"` or `"GODEBUG"`.
    pub var: &'static str,
    /// The rejected value, exactly as given (for `GODEBUG`, the one `key=value` setting).
    pub value: String,
    /// Why it was rejected, in words.
    pub reason: String,
}

impl ConfigError {
    fn new(var: &'static str, value: &str, reason: impl Into<String>) -> Self {
        ConfigError { var, value: value.to_owned(), reason: reason.into() }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}={:?}: {}", self.var, self.value, self.reason)
    }
}

impl std::error::Error for ConfigError {}

// ---------------------------------------------------------------------------------------------
// GOGC
// ---------------------------------------------------------------------------------------------

/// The GC percent (`GOGC`): how far the heap may grow past the live heap before the next cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GcPercent {
    /// Start a cycle when the heap reaches `live × (1 + n/100)` (plus roots). `Percent(0)` collects
    /// back to back. Go's default is `Percent(100)`.
    Percent(u32),
    /// No proportional trigger (`GOGC=off`, or any negative value). Cycles then run only when
    /// forced, or when the memory limit calls for them.
    Off,
}

impl GcPercent {
    /// Go's default, `GOGC=100`.
    pub const DEFAULT: GcPercent = GcPercent::Percent(100);

    /// From Go's `int32` representation: any negative value means [`GcPercent::Off`]
    /// (as Go's `setGCPercent` does).
    pub fn from_i32(v: i32) -> Self {
        match u32::try_from(v) {
            Ok(p) => GcPercent::Percent(p),
            Err(_) => GcPercent::Off,
        }
    }

    /// To Go's `int32` representation, as `debug.SetGCPercent` returns it: `-1` for
    /// [`GcPercent::Off`]; percentages above `i32::MAX` (only possible from code) saturate.
    pub fn as_i32(self) -> i32 {
        match self {
            GcPercent::Percent(p) => i32::try_from(p).unwrap_or(i32::MAX),
            GcPercent::Off => -1,
        }
    }
}

impl Default for GcPercent {
    fn default() -> Self {
        GcPercent::DEFAULT
    }
}

impl fmt::Display for GcPercent {
    /// Writes the value as `GOGC` would spell it: `100` or `off`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GcPercent::Percent(p) => write!(f, "{p}"),
            GcPercent::Off => f.write_str("off"),
        }
    }
}

/// Parses a `GOGC` value.
///
/// Accepted, as by Go's `readGOGC`: `off` (lower case only); a decimal integer in the `int32`
/// range with an optional sign, where a negative value means [`GcPercent::Off`]. The empty
/// string means "unset" and gives the default, `Percent(100)`.
///
/// # Errors
///
/// Anything else (Go would silently use 100), naming `GOGC` and the value.
pub fn parse_gogc(s: &str) -> Result<GcPercent, ConfigError> {
    if s.is_empty() {
        return Ok(GcPercent::DEFAULT);
    }
    if s == "off" {
        return Ok(GcPercent::Off);
    }
    match s.parse::<i32>() {
        Ok(n) => Ok(GcPercent::from_i32(n)),
        Err(e) => {
            let reason = match e.kind() {
                IntErrorKind::PosOverflow | IntErrorKind::NegOverflow => {
                    "out of range: a GC percent must fit in a 32-bit signed integer".to_owned()
                }
                _ if s.eq_ignore_ascii_case("off") => {
                    "not an integer or \"off\" (\"off\" must be lower case)".to_owned()
                }
                _ => "not an integer or \"off\"".to_owned(),
            };
            Err(ConfigError::new(GOGC, s, reason))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// GOMEMLIMIT
// ---------------------------------------------------------------------------------------------

/// The binary unit suffixes `GOMEMLIMIT` accepts, with their multipliers. The bare `B` is
/// handled separately.
const UNITS: [(&str, u64); 4] =
    [("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("TiB", 1 << 40)];

/// Parses a `GOMEMLIMIT` value into a limit in bytes, `None` meaning no limit.
///
/// Accepted, as by Go's `readGOMEMLIMIT` and `parseByteCount`: `off`; a non-negative decimal
/// integer (optional sign, so `+5` and `-0` pass as in Go) optionally followed by exactly one of
/// the case-sensitive suffixes `B`, `KiB`, `MiB`, `GiB`, `TiB` (powers of 1024), with no space
/// between. The result must not exceed `i64::MAX` bytes; exactly `i64::MAX` (Go's
/// `math.MaxInt64`) means no limit, like `off`. The empty string means "unset": no limit.
/// `0` is a legal (extreme) limit.
///
/// # Errors
///
/// A negative number, a fraction, an unknown or lower-case suffix (`GB`, `kib`, `K`), a suffix
/// with no number (`KiB`), or a product above `i64::MAX` — naming `GOMEMLIMIT` and the value.
/// (Go stops the program with a fatal error on these.)
pub fn parse_memory_limit(s: &str) -> Result<Option<u64>, ConfigError> {
    if s.is_empty() || s == "off" {
        return Ok(None);
    }
    let bytes = parse_byte_count(s).map_err(|reason| ConfigError::new(GOMEMLIMIT, s, reason))?;
    Ok(if bytes >= NO_LIMIT { None } else { Some(bytes) })
}

/// Go's byte-count grammar: `[+-]?[0-9]+(B|KiB|MiB|GiB|TiB)?`, value in `0..=i64::MAX`.
/// Returns the byte count or the reason it is not one.
fn parse_byte_count(s: &str) -> Result<u64, String> {
    let (number, multiplier) = if let Some(&(unit, m)) = UNITS.iter().find(|(u, _)| s.ends_with(u))
    {
        (&s[..s.len() - unit.len()], m)
    } else if let Some(n) = s.strip_suffix('B') {
        (n, 1)
    } else {
        (s, 1)
    };
    let n = match number.parse::<i64>() {
        Ok(n) => n,
        Err(e) => {
            return Err(match e.kind() {
                IntErrorKind::PosOverflow => {
                    "too large: the limit must not exceed 2^63-1 bytes".into()
                }
                IntErrorKind::NegOverflow => "negative".into(),
                IntErrorKind::Empty => "missing number before the unit".into(),
                _ => byte_count_syntax_reason(s),
            });
        }
    };
    let n = u64::try_from(n).map_err(|_| String::from("negative"))?;
    match n.checked_mul(multiplier) {
        Some(b) if b <= NO_LIMIT => Ok(b),
        _ => Err("too large: the limit must not exceed 2^63-1 bytes".into()),
    }
}

/// The reason for a byte count that is not an integer plus a known unit, with a hint when the
/// trailing letters look like a unit written differently (`GB`, `gib`, `G`).
fn byte_count_syntax_reason(s: &str) -> String {
    const BASE: &str = "not a byte count: expected a non-negative integer optionally followed by \
                        B, KiB, MiB, GiB or TiB, or \"off\"";
    let digits_end = s.trim_end_matches(|c: char| c.is_ascii_alphabetic()).len();
    let suffix = &s[digits_end..];
    let number = &s[..digits_end];
    if !suffix.is_empty() && !number.is_empty() && number.parse::<i64>().is_ok() {
        format!("{BASE} (unknown unit {suffix:?}; units are case-sensitive powers of 1024)")
    } else if number.contains('.') {
        format!("{BASE} (fractions are not accepted)")
    } else {
        BASE.to_owned()
    }
}

// ---------------------------------------------------------------------------------------------
// GOMAXPROCS
// ---------------------------------------------------------------------------------------------

/// The default `GOMAXPROCS`: the number of CPUs this process may run on
/// ([`std::thread::available_parallelism`], which honours CPU affinity and cgroup quotas, as
/// Go's container-aware default does), or 1 if that cannot be determined.
pub fn default_gomaxprocs() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// Parses a `GOMAXPROCS` value.
///
/// Accepted, as by Go's `schedinit`: a decimal integer (optional `+`) from 1 to `i32::MAX`. The
/// empty string means "unset" and gives [`default_gomaxprocs`].
///
/// # Errors
///
/// Zero, a negative number, a number above `i32::MAX`, or anything that is not an integer
/// (Go would silently use the CPU count), naming `GOMAXPROCS` and the value.
pub fn parse_gomaxprocs(s: &str) -> Result<usize, ConfigError> {
    if s.is_empty() {
        return Ok(default_gomaxprocs());
    }
    let n = s.parse::<i32>().map_err(|e| {
        let reason = match e.kind() {
            IntErrorKind::PosOverflow => "too large: at most 2147483647",
            IntErrorKind::NegOverflow => "must be a positive integer",
            _ => "not an integer",
        };
        ConfigError::new(GOMAXPROCS, s, reason)
    })?;
    match usize::try_from(n) {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(ConfigError::new(GOMAXPROCS, s, "must be a positive integer")),
    }
}

// ---------------------------------------------------------------------------------------------
// GODEBUG
// ---------------------------------------------------------------------------------------------

/// The `GODEBUG` knobs gomem understands, with Go's defaults.
///
/// Go keeps every runtime knob as an `int32`; gomem keeps each as the type of its meaningful
/// values and rejects the rest (see [`parse_godebug`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Debug {
    /// `gctrace`: 0 = off, 1 = one summary line per cycle on stderr, 2 = also the cycle's scan
    /// statistics per size class. Default 0.
    pub gctrace: u8,
    /// `gccheckmark`: after each concurrent mark, re-mark the heap with the world stopped and
    /// fail loudly on any reachable object the concurrent mark missed. Default off.
    pub gccheckmark: bool,
    /// `clobberfree`: fill freed objects with the `0xdeadbeef` pattern when they are swept, so a
    /// use after free shows. Default off.
    pub clobberfree: bool,
    /// `greenteagc`: mark with Green Tea (Go 1.27's default marker): spans of 16..=512-byte
    /// objects keep an inline mark block and are marked and scanned a span at a time; off, the
    /// classic object-at-a-time marker and layout. Go chooses this at build time
    /// (`GOEXPERIMENT=nogreenteagc`); gomem per runtime, so one binary can run both. Default
    /// on. `gccheckmark`'s re-mark is classic either way.
    pub greenteagc: bool,
    /// `gcstoptheworld`: 0 = concurrent collection; 1 = mark with the world stopped; 2 = also
    /// sweep with the world stopped. Default 0.
    pub gcstoptheworld: u8,
    /// `madvdontneed`: release free pages to the OS with `MADV_DONTNEED` (on) or `MADV_FREE`
    /// (off). Default on, as Go on Linux.
    pub madvdontneed: bool,
    /// `scavtrace`: one scavenger summary line per cycle on stderr. Default off.
    pub scavtrace: bool,
    /// `gcpacertrace`: print the pacer's internal state at each cycle. Default off.
    pub gcpacertrace: bool,
    /// `invalidptr`: crash when a pointer slot holds a value that is not a valid heap pointer.
    /// Default on.
    pub invalidptr: bool,
    /// `stwwatch`: milliseconds after which a stop-the-world (or a goroutine scan, or dropping
    /// the runtime) still waiting for goroutines reports them on stderr, once per wait; 0 = off.
    /// A gomem knob, not Go's. Default 1000: a pause that long is already a bug, and the report
    /// is what turns a silent hang into a named goroutine.
    pub stwwatch: u32,
    /// Settings gomem did not act on, in the order given and exactly as written: `key=value`
    /// fields with a key gomem does not know (Go's other runtime knobs such as `efence` or
    /// `sbrk`, library knobs such as `http2debug`, misspellings) and fields with no `=`. Go
    /// ignores these silently; they are kept here so that a command can warn about them.
    pub unknown: Vec<String>,
}

impl Default for Debug {
    fn default() -> Self {
        Debug {
            gctrace: 0,
            gccheckmark: false,
            clobberfree: false,
            greenteagc: true,
            gcstoptheworld: 0,
            madvdontneed: true,
            scavtrace: false,
            gcpacertrace: false,
            invalidptr: true,
            stwwatch: 1000,
            unknown: Vec::new(),
        }
    }
}

impl Debug {
    /// The allocator's release mode for these knobs (`madvdontneed`).
    pub fn release_mode(&self) -> ReleaseMode {
        if self.madvdontneed {
            ReleaseMode::DontNeed
        } else {
            ReleaseMode::Free
        }
    }
}

/// Parses a knob value with Go's integer syntax and checks that it is at most `max`.
fn parse_level(key: &str, value: &str, max: u8) -> Result<u8, String> {
    let allowed = || {
        let below: Vec<String> = (0..max).map(|v| v.to_string()).collect();
        format!("{key} must be {} or {max}", below.join(", "))
    };
    match value.parse::<i32>() {
        Ok(n) => u8::try_from(n).ok().filter(|&n| n <= max).ok_or_else(allowed),
        Err(_) => Err(format!("{} (got a non-integer)", allowed())),
    }
}

/// A non-negative integer of milliseconds (Go's integer syntax), for `stwwatch`.
fn parse_millis(key: &str, value: &str) -> Result<u32, String> {
    value.parse::<u32>().map_err(|_| {
        format!(
            "{key} must be a whole number of milliseconds (0 turns it off), at most {}",
            u32::MAX
        )
    })
}

/// Parses a `GODEBUG` value onto `into`.
///
/// The value is a comma-separated list of `key=value` settings, applied left to right, so a
/// later setting of a key overrides an earlier one (as at Go's start-up). Empty fields are
/// skipped; the empty string changes nothing. For the knobs in [`Debug`](struct@Debug) the value must be an
/// integer in Go's syntax (`1`, `+1` and `01` are the same) with a meaning: 0 or 1 for the
/// on/off knobs, 0, 1 or 2 for `gctrace` and `gcstoptheworld`, milliseconds for `stwwatch`. Unknown keys and fields without
/// `=` are ignored, as in Go, and appended to [`Debug::unknown`].
///
/// # Errors
///
/// A known key with a value outside its set (Go would keep the old value, or treat an
/// out-of-range integer as the nearest meaningful one), naming `GODEBUG` and the `key=value`
/// setting. On error `into` is left unchanged, even if earlier settings were valid.
pub fn parse_godebug(s: &str, into: &mut Debug) -> Result<(), ConfigError> {
    let mut d = into.clone();
    for field in s.split(',') {
        if field.is_empty() {
            continue;
        }
        let Some((key, value)) = field.split_once('=') else {
            d.unknown.push(field.to_owned());
            continue;
        };
        let err = |reason: String| ConfigError::new(GODEBUG, field, reason);
        let flag = |v: &str| parse_level(key, v, 1).map(|n| n == 1).map_err(err);
        match key {
            "gctrace" => d.gctrace = parse_level(key, value, 2).map_err(err)?,
            "gcstoptheworld" => d.gcstoptheworld = parse_level(key, value, 2).map_err(err)?,
            "gccheckmark" => d.gccheckmark = flag(value)?,
            "clobberfree" => d.clobberfree = flag(value)?,
            "greenteagc" => d.greenteagc = flag(value)?,
            "madvdontneed" => d.madvdontneed = flag(value)?,
            "scavtrace" => d.scavtrace = flag(value)?,
            "gcpacertrace" => d.gcpacertrace = flag(value)?,
            "invalidptr" => d.invalidptr = flag(value)?,
            "stwwatch" => d.stwwatch = parse_millis(key, value).map_err(err)?,
            _ => d.unknown.push(field.to_owned()),
        }
    }
    *into = d;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------------------------

/// Everything a runtime is configured with at start-up.
///
/// Build it from the environment ([`Config::from_env`]), from any lookup
/// ([`Config::from_vars`]), or from code, starting at [`Config::default`] (Go's defaults) and
/// chaining the builder methods:
///
/// ```
/// use gomem::config::{Config, GcPercent};
///
/// let cfg = Config::default()
///     .gogc(GcPercent::Percent(200))
///     .memory_limit(Some(512 << 20))
///     .gomaxprocs(4)
///     .godebug("gctrace=1,clobberfree=1")?;
/// assert_eq!(cfg.debug.gctrace, 1);
/// # Ok::<(), gomem::config::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// `GOGC`. Default `Percent(100)`.
    pub gc_percent: GcPercent,
    /// `GOMEMLIMIT`, in bytes; `None` is no limit (Go's `math.MaxInt64`, the default). When
    /// `Some`, the value is below `i64::MAX`.
    pub memory_limit: Option<u64>,
    /// `GOMAXPROCS`: how many Ps exist. At least 1. Default [`default_gomaxprocs`].
    pub gomaxprocs: usize,
    /// `GODEBUG` knobs.
    pub debug: Debug,
    /// The periodic forced cycle: a cycle starts when none has ended for this long (Go's
    /// `forcegcperiod`, two minutes, which Go does not let programs change; here tests and
    /// embedders may). `None` turns periodic cycles off. Default `Some(2 minutes)`. Not read
    /// from the environment (Go has no variable for it).
    pub force_gc_period: Option<Duration>,
}

impl Default for Config {
    /// Go's defaults: `GOGC=100`, no memory limit, one P per available CPU, default `GODEBUG`.
    fn default() -> Self {
        Config {
            gc_percent: GcPercent::DEFAULT,
            memory_limit: None,
            gomaxprocs: default_gomaxprocs(),
            debug: Debug::default(),
            force_gc_period: Some(FORCE_GC_PERIOD),
        }
    }
}

impl Config {
    /// Reads `GOGC`, `GOMEMLIMIT`, `GOMAXPROCS` and `GODEBUG` from the process environment.
    /// A variable that is unset or empty takes its default.
    ///
    /// # Errors
    ///
    /// The first invalid variable, in the order above (see the `parse_*` functions); a value
    /// that is not valid UTF-8 is invalid.
    pub fn from_env() -> Result<Config, ConfigError> {
        Self::from_lookup(|var| match std::env::var_os(var) {
            None => Ok(None),
            Some(v) => match v.into_string() {
                Ok(s) => Ok(Some(s)),
                Err(raw) => {
                    Err(ConfigError::new(var_name(var), &raw.to_string_lossy(), "not valid UTF-8"))
                }
            },
        })
    }

    /// As [`Config::from_env`], but looks each variable up with `get` (given the variable's
    /// name; `None` = unset). Use it with a map in tests, or to read a configuration file.
    ///
    /// # Errors
    ///
    /// The first invalid variable, in the order `GOGC`, `GOMEMLIMIT`, `GOMAXPROCS`, `GODEBUG`.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        Self::from_lookup(|var| Ok(get(var)))
    }

    fn from_lookup(
        get: impl Fn(&str) -> Result<Option<String>, ConfigError>,
    ) -> Result<Config, ConfigError> {
        let gogc = get(GOGC)?.unwrap_or_default();
        let limit = get(GOMEMLIMIT)?.unwrap_or_default();
        let procs = get(GOMAXPROCS)?.unwrap_or_default();
        let godebug = get(GODEBUG)?.unwrap_or_default();
        let gc_percent = parse_gogc(&gogc)?;
        let memory_limit = parse_memory_limit(&limit)?;
        let gomaxprocs = parse_gomaxprocs(&procs)?;
        let mut debug = Debug::default();
        parse_godebug(&godebug, &mut debug)?;
        Ok(Config {
            gc_percent,
            memory_limit,
            gomaxprocs,
            debug,
            force_gc_period: Some(FORCE_GC_PERIOD),
        })
    }

    /// Sets the GC percent (`GOGC`). Unlike the environment, code may set a percentage above
    /// `i32::MAX`.
    pub fn gogc(mut self, v: GcPercent) -> Self {
        self.gc_percent = v;
        self
    }

    /// Sets the memory limit in bytes (`GOMEMLIMIT`); `None` removes it. A limit of
    /// `i64::MAX` bytes or more is stored as `None`, as Go treats `math.MaxInt64`.
    pub fn memory_limit(mut self, bytes: Option<u64>) -> Self {
        self.memory_limit = bytes.filter(|&b| b < NO_LIMIT);
        self
    }

    /// Sets the number of Ps (`GOMAXPROCS`). As with Go's `runtime.GOMAXPROCS`, `0` leaves the
    /// current value unchanged.
    pub fn gomaxprocs(mut self, n: usize) -> Self {
        if n > 0 {
            self.gomaxprocs = n;
        }
        self
    }

    /// Sets the periodic forced cycle's period ([`Config::force_gc_period`]); `None` turns
    /// periodic cycles off.
    pub fn force_gc_period(mut self, period: Option<Duration>) -> Self {
        self.force_gc_period = period;
        self
    }

    /// Applies a `GODEBUG` string on top of the current knobs (see [`parse_godebug`]); chained
    /// calls accumulate, and later settings win.
    ///
    /// # Errors
    ///
    /// As [`parse_godebug`].
    pub fn godebug(mut self, s: &str) -> Result<Self, ConfigError> {
        parse_godebug(s, &mut self.debug)?;
        Ok(self)
    }

    /// The allocator's heap options these settings imply (`clobberfree`, `greenteagc` as the
    /// span layout, and `madvdontneed` as the release mode).
    // The update keeps this compiling if the allocator grows more options.
    #[allow(clippy::needless_update)]
    pub fn heap_config(&self) -> HeapConfig {
        HeapConfig {
            release_mode: self.debug.release_mode(),
            clobberfree: self.debug.clobberfree,
            span_inline_marks: self.debug.greenteagc,
            ..HeapConfig::default()
        }
    }
}

/// The `'static` name of one of the four variables (for errors raised by the lookup itself).
fn var_name(var: &str) -> &'static str {
    match var {
        GOGC => GOGC,
        GOMEMLIMIT => GOMEMLIMIT,
        GOMAXPROCS => GOMAXPROCS,
        _ => GODEBUG,
    }
}
