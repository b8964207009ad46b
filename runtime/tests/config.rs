//! Configuration parsing: `GOGC`, `GOMEMLIMIT`, `GOMAXPROCS` and `GODEBUG` accept what Go 1.27
//! accepts, reject with an error naming the variable and the value what Go would ignore or die
//! on, and the builder sets the same fields from code.

use std::collections::HashMap;

use gomem::allocator::os::ReleaseMode;
use gomem::config::{
    self, default_gomaxprocs, parse_godebug, parse_gogc, parse_gomaxprocs, parse_memory_limit,
    Config, ConfigError, GcPercent,
};

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
const TIB: u64 = 1 << 40;

/// Asserts that `err` is about `var` and `value`, and that its message says so.
fn assert_names(err: &ConfigError, var: &str, value: &str) {
    assert_eq!(err.var, var, "{err}");
    assert_eq!(err.value, value, "{err}");
    assert!(!err.reason.is_empty(), "{err:?}");
    let shown = err.to_string();
    let prefix = format!("invalid {var}={value:?}: ");
    assert!(shown.starts_with(&prefix), "{shown:?} does not start with {prefix:?}");
}

fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|&(k, v)| (k.to_owned(), v.to_owned())).collect()
}

fn from_map(map: &HashMap<String, String>) -> Result<Config, ConfigError> {
    Config::from_vars(|k| map.get(k).cloned())
}

// ---------------------------------------------------------------------------------------------
// Defaults
// ---------------------------------------------------------------------------------------------

#[test]
fn defaults_are_gos() {
    let cfg = Config::default();
    assert_eq!(cfg.gc_percent, GcPercent::Percent(100));
    assert_eq!(cfg.memory_limit, None);
    assert!(cfg.gomaxprocs >= 1);
    assert_eq!(cfg.gomaxprocs, default_gomaxprocs());
    assert_eq!(cfg.gomaxprocs, std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));

    let d = config::Debug::default();
    assert_eq!(d.gctrace, 0);
    assert!(!d.gccheckmark);
    assert!(!d.clobberfree);
    assert!(d.greenteagc, "Green Tea is Go 1.27's default marker");
    assert_eq!(d.gcstoptheworld, 0);
    assert!(d.madvdontneed);
    assert!(!d.scavtrace);
    assert!(!d.gcpacertrace);
    assert!(d.invalidptr);
    assert!(d.unknown.is_empty());
    assert_eq!(cfg.debug, d);
    assert_eq!(GcPercent::default(), GcPercent::DEFAULT);
}

#[test]
fn from_vars_with_nothing_set_gives_defaults() {
    assert_eq!(Config::from_vars(|_| None).unwrap(), Config::default());
}

#[test]
fn from_vars_with_empty_values_gives_defaults() {
    let map = vars(&[("GOGC", ""), ("GOMEMLIMIT", ""), ("GOMAXPROCS", ""), ("GODEBUG", "")]);
    assert_eq!(from_map(&map).unwrap(), Config::default());
}

// ---------------------------------------------------------------------------------------------
// GOGC
// ---------------------------------------------------------------------------------------------

#[test]
fn gogc_valid_forms() {
    let cases: &[(&str, GcPercent)] = &[
        ("", GcPercent::Percent(100)),
        ("off", GcPercent::Off),
        ("0", GcPercent::Percent(0)),
        ("1", GcPercent::Percent(1)),
        ("100", GcPercent::Percent(100)),
        ("+50", GcPercent::Percent(50)),
        ("0050", GcPercent::Percent(50)),
        ("2147483647", GcPercent::Percent(i32::MAX as u32)),
        // Negative values mean off, as in Go's setGCPercent.
        ("-1", GcPercent::Off),
        ("-100", GcPercent::Off),
        ("-2147483648", GcPercent::Off),
        ("-0", GcPercent::Percent(0)),
    ];
    for &(s, want) in cases {
        assert_eq!(parse_gogc(s), Ok(want), "GOGC={s:?}");
    }
}

#[test]
fn gogc_invalid_forms_name_the_variable_and_value() {
    for s in [
        "abc",
        "OFF",
        "Off",
        "on",
        "1e3",
        "1.5",
        "100%",
        " 100",
        "100 ",
        "1_000",
        "0x10",
        "+",
        "-",
        "+-1",
        "2147483648",
        "-2147483649",
        "99999999999999999999",
    ] {
        let err = parse_gogc(s).expect_err(s);
        assert_names(&err, "GOGC", s);
    }
    assert_eq!(
        parse_gogc("abc").unwrap_err().to_string(),
        r#"invalid GOGC="abc": not an integer or "off""#
    );
    assert!(parse_gogc("OFF").unwrap_err().reason.contains("lower case"));
    assert!(parse_gogc("2147483648").unwrap_err().reason.contains("range"));
}

#[test]
fn gc_percent_go_representation() {
    assert_eq!(GcPercent::from_i32(-1), GcPercent::Off);
    assert_eq!(GcPercent::from_i32(i32::MIN), GcPercent::Off);
    assert_eq!(GcPercent::from_i32(0), GcPercent::Percent(0));
    assert_eq!(GcPercent::from_i32(250), GcPercent::Percent(250));
    assert_eq!(GcPercent::Off.as_i32(), -1);
    assert_eq!(GcPercent::Percent(250).as_i32(), 250);
    assert_eq!(GcPercent::Percent(u32::MAX).as_i32(), i32::MAX);
    assert_eq!(GcPercent::Percent(100).to_string(), "100");
    assert_eq!(GcPercent::Off.to_string(), "off");
    // What Display writes parses back to the same value.
    for v in [GcPercent::Off, GcPercent::Percent(0), GcPercent::Percent(12345)] {
        assert_eq!(parse_gogc(&v.to_string()), Ok(v));
    }
}

// ---------------------------------------------------------------------------------------------
// GOMEMLIMIT
// ---------------------------------------------------------------------------------------------

#[test]
fn memory_limit_valid_forms_and_units() {
    let cases: &[(&str, Option<u64>)] = &[
        ("", None),
        ("off", None),
        ("0", Some(0)),
        ("100", Some(100)),
        ("100B", Some(100)),
        ("0B", Some(0)),
        ("1KiB", Some(KIB)),
        ("3KiB", Some(3 * KIB)),
        ("512MiB", Some(512 * MIB)),
        ("1GiB", Some(GIB)),
        ("16GiB", Some(16 * GIB)),
        ("2TiB", Some(2 * TIB)),
        ("0TiB", Some(0)),
        ("00042", Some(42)),
        ("+1GiB", Some(GIB)),
        ("-0", Some(0)),
        ("-0MiB", Some(0)),
        // The largest limits that are still limits.
        ("9223372036854775806", Some(i64::MAX as u64 - 1)),
        ("8388607TiB", Some(8_388_607 * TIB)),
        ("9007199254740991KiB", Some(9_007_199_254_740_991 * KIB)),
        // Go's math.MaxInt64 is its "no limit" value.
        ("9223372036854775807", None),
        ("9223372036854775807B", None),
    ];
    for &(s, want) in cases {
        assert_eq!(parse_memory_limit(s), Ok(want), "GOMEMLIMIT={s:?}");
    }
}

#[test]
fn memory_limit_invalid_forms_name_the_variable_and_value() {
    for s in [
        // suffix without a number
        "B",
        "KiB",
        "MiB",
        "GiB",
        "TiB",
        "iB",
        // unknown or mis-cased units
        "1GB",
        "1G",
        "1g",
        "1gib",
        "1GIB",
        "1kib",
        "1KB",
        "1K",
        "1iB",
        "1PiB",
        "1EiB",
        "1b",
        "1Bytes",
        "1BB",
        "1KiBB",
        // signs, fractions, spacing, other syntax
        "-1",
        "-1B",
        "-1KiB",
        "-9223372036854775808",
        "1.5GiB",
        "0.5",
        "1 GiB",
        " 1",
        "1 ",
        "1_000",
        "0x10",
        "1e9",
        "+",
        "-",
        "OFF",
        "none",
        "unlimited",
        "max",
        // overflow
        "9223372036854775808",
        "9223372036854775808B",
        "18446744073709551616",
        "9007199254740992KiB",
        "8796093022208MiB",
        "8589934592GiB",
        "8388608TiB",
        "16777216TiB",
        "99999999999999999999TiB",
    ] {
        let err = parse_memory_limit(s).expect_err(s);
        assert_names(&err, "GOMEMLIMIT", s);
    }
}

#[test]
fn memory_limit_error_reasons() {
    let reason = |s| parse_memory_limit(s).unwrap_err().reason;
    assert!(reason("16777216TiB").contains("too large"), "{}", reason("16777216TiB"));
    assert!(reason("8388608TiB").contains("too large"));
    assert!(reason("9223372036854775808").contains("too large"));
    assert!(reason("-1").contains("negative"));
    assert!(reason("-1GiB").contains("negative"));
    assert!(reason("KiB").contains("missing number"));
    assert!(reason("1GB").contains("unknown unit \"GB\""), "{}", reason("1GB"));
    assert!(reason("1gib").contains("case-sensitive"));
    assert!(reason("1.5GiB").contains("fraction"));
    assert_eq!(
        parse_memory_limit("16777216TiB").unwrap_err().to_string(),
        "invalid GOMEMLIMIT=\"16777216TiB\": too large: the limit must not exceed 2^63-1 bytes"
    );
}

// ---------------------------------------------------------------------------------------------
// GOMAXPROCS
// ---------------------------------------------------------------------------------------------

#[test]
fn gomaxprocs_valid_forms() {
    assert_eq!(parse_gomaxprocs(""), Ok(default_gomaxprocs()));
    assert_eq!(parse_gomaxprocs("1"), Ok(1));
    assert_eq!(parse_gomaxprocs("8"), Ok(8));
    assert_eq!(parse_gomaxprocs("+4"), Ok(4));
    assert_eq!(parse_gomaxprocs("016"), Ok(16));
    assert_eq!(parse_gomaxprocs("2147483647"), Ok(i32::MAX as usize));
}

#[test]
fn gomaxprocs_invalid_forms_name_the_variable_and_value() {
    for s in [
        "0",
        "-0",
        "-1",
        "-8",
        "x",
        "four",
        "1.5",
        " 2",
        "2 ",
        "0x4",
        "1e2",
        "+",
        "-",
        "2147483648",
        "-2147483649",
        "99999999999999999999",
    ] {
        let err = parse_gomaxprocs(s).expect_err(s);
        assert_names(&err, "GOMAXPROCS", s);
    }
    assert_eq!(
        parse_gomaxprocs("0").unwrap_err().to_string(),
        "invalid GOMAXPROCS=\"0\": must be a positive integer"
    );
    assert!(parse_gomaxprocs("x").unwrap_err().reason.contains("not an integer"));
    assert!(parse_gomaxprocs("2147483648").unwrap_err().reason.contains("too large"));
}

// ---------------------------------------------------------------------------------------------
// GODEBUG
// ---------------------------------------------------------------------------------------------

fn godebug(s: &str) -> config::Debug {
    let mut d = config::Debug::default();
    parse_godebug(s, &mut d).unwrap_or_else(|e| panic!("GODEBUG={s:?}: {e}"));
    d
}

#[test]
fn godebug_empty_leaves_defaults() {
    assert_eq!(godebug(""), config::Debug::default());
    assert_eq!(godebug(","), config::Debug::default());
    assert_eq!(godebug(",,,"), config::Debug::default());
}

#[test]
fn godebug_each_known_key() {
    assert_eq!(godebug("gctrace=1").gctrace, 1);
    assert_eq!(godebug("gctrace=2").gctrace, 2);
    assert_eq!(godebug("gctrace=0").gctrace, 0);
    assert_eq!(godebug("gcstoptheworld=1").gcstoptheworld, 1);
    assert_eq!(godebug("gcstoptheworld=2").gcstoptheworld, 2);
    assert!(godebug("gccheckmark=1").gccheckmark);
    assert!(godebug("clobberfree=1").clobberfree);
    assert!(!godebug("madvdontneed=0").madvdontneed);
    assert!(godebug("madvdontneed=1").madvdontneed);
    assert!(godebug("scavtrace=1").scavtrace);
    assert!(godebug("gcpacertrace=1").gcpacertrace);
    assert!(!godebug("invalidptr=0").invalidptr);
    // Go's integer syntax: a sign and leading zeros are allowed.
    assert_eq!(godebug("gctrace=+1").gctrace, 1);
    assert_eq!(godebug("gctrace=02").gctrace, 2);
    assert!(godebug("clobberfree=01").clobberfree);
    assert!(!godebug("invalidptr=-0").invalidptr);
}

#[test]
fn godebug_stwwatch_is_milliseconds() {
    assert_eq!(config::Debug::default().stwwatch, 1000);
    assert_eq!(godebug("stwwatch=250").stwwatch, 250);
    assert_eq!(godebug("stwwatch=0").stwwatch, 0);
    assert_eq!(godebug("stwwatch=+07").stwwatch, 7);
    assert!(godebug("stwwatch=5").unknown.is_empty());
    for bad in ["stwwatch=-1", "stwwatch=", "stwwatch=1s", "stwwatch=99999999999"] {
        let mut d = config::Debug::default();
        let err = parse_godebug(bad, &mut d).expect_err(bad);
        assert_names(&err, "GODEBUG", bad);
        assert!(err.reason.contains("milliseconds"), "{err}");
    }
}

#[test]
fn godebug_multiple_keys() {
    let d = godebug("gctrace=1,gccheckmark=1,clobberfree=1,gcstoptheworld=2,madvdontneed=0,scavtrace=1,gcpacertrace=1,invalidptr=0");
    let want = config::Debug {
        gctrace: 1,
        gccheckmark: true,
        clobberfree: true,
        gcstoptheworld: 2,
        madvdontneed: false,
        scavtrace: true,
        gcpacertrace: true,
        invalidptr: false,
        unknown: vec![],
        ..config::Debug::default()
    };
    assert_eq!(d, want);
    // Empty fields between settings are skipped.
    let d = godebug(",gctrace=2,,scavtrace=1,");
    assert_eq!((d.gctrace, d.scavtrace), (2, true));
}

#[test]
fn godebug_later_settings_override_earlier() {
    assert_eq!(godebug("gctrace=1,gctrace=2").gctrace, 2);
    assert_eq!(godebug("gctrace=2,gctrace=0").gctrace, 0);
    assert!(!godebug("clobberfree=1,scavtrace=1,clobberfree=0").clobberfree);
    // Parsing onto an existing Debug keeps what the string does not mention.
    let mut d = godebug("gctrace=1,clobberfree=1");
    parse_godebug("clobberfree=0,scavtrace=1", &mut d).unwrap();
    assert_eq!((d.gctrace, d.clobberfree, d.scavtrace), (1, false, true));
}

#[test]
fn godebug_unknown_keys_are_ignored_and_recorded() {
    let d = godebug("http2debug=1,gctrace=1,efence=1,gcshrinkstackoff=1,GCTRACE=2,nokey,=5,sbrk=1");
    assert_eq!(d.gctrace, 1);
    assert_eq!(
        d.unknown,
        ["http2debug=1", "efence=1", "gcshrinkstackoff=1", "GCTRACE=2", "nokey", "=5", "sbrk=1"]
    );
    // Unknown keys are not validated: any value is recorded as written.
    let d = godebug("asyncpreemptoff=yes,memprofilerate=");
    assert_eq!(d.unknown, ["asyncpreemptoff=yes", "memprofilerate="]);
    assert_eq!(config::Debug { unknown: vec![], ..d }, config::Debug::default());
}

#[test]
fn godebug_bad_values_for_known_keys_are_rejected() {
    for (s, field) in [
        ("gctrace=3", "gctrace=3"),
        ("gctrace=-1", "gctrace=-1"),
        ("gctrace=", "gctrace="),
        ("gctrace=x", "gctrace=x"),
        ("gctrace=1.0", "gctrace=1.0"),
        ("gctrace=on", "gctrace=on"),
        ("gctrace= 1", "gctrace= 1"),
        ("gcstoptheworld=3", "gcstoptheworld=3"),
        ("gccheckmark=2", "gccheckmark=2"),
        ("clobberfree=true", "clobberfree=true"),
        ("madvdontneed=yes", "madvdontneed=yes"),
        ("scavtrace=-1", "scavtrace=-1"),
        ("gcpacertrace=99999999999", "gcpacertrace=99999999999"),
        ("invalidptr=", "invalidptr="),
        // The bad setting is named, not the whole variable.
        ("scavtrace=1,gctrace=7,clobberfree=1", "gctrace=7"),
        ("gctrace=9,gctrace=1", "gctrace=9"),
        ("gctrace=1=1", "gctrace=1=1"),
    ] {
        let mut d = config::Debug::default();
        let err = parse_godebug(s, &mut d).expect_err(s);
        assert_names(&err, "GODEBUG", field);
        assert!(err.reason.contains(field.split('=').next().unwrap()), "{err}");
        // A rejected string leaves the knobs as they were.
        assert_eq!(d, config::Debug::default(), "GODEBUG={s:?}");
    }
    assert_eq!(
        parse_godebug("gctrace=3", &mut config::Debug::default()).unwrap_err().to_string(),
        "invalid GODEBUG=\"gctrace=3\": gctrace must be 0, 1 or 2"
    );
    assert_eq!(
        parse_godebug("clobberfree=2", &mut config::Debug::default()).unwrap_err().to_string(),
        "invalid GODEBUG=\"clobberfree=2\": clobberfree must be 0 or 1"
    );
}

#[test]
fn godebug_release_mode_and_heap_config() {
    assert_eq!(config::Debug::default().release_mode(), ReleaseMode::DontNeed);
    assert_eq!(godebug("madvdontneed=0").release_mode(), ReleaseMode::Free);

    let h = Config::default().heap_config();
    assert_eq!(h.release_mode, ReleaseMode::DontNeed);
    assert!(!h.clobberfree);
    assert!(h.span_inline_marks, "greenteagc=1 by default: Green Tea's span layout");
    let h = Config::default().godebug("clobberfree=1,madvdontneed=0").unwrap().heap_config();
    assert_eq!(h.release_mode, ReleaseMode::Free);
    assert!(h.clobberfree);
    let h = Config::default().godebug("greenteagc=0").unwrap().heap_config();
    assert!(!h.span_inline_marks, "greenteagc=0: the classic layout and marker");
    assert!(Config::default().godebug("greenteagc=2").is_err());
}

// ---------------------------------------------------------------------------------------------
// from_vars
// ---------------------------------------------------------------------------------------------

#[test]
fn from_vars_reads_all_four_from_a_map() {
    let map = vars(&[
        ("GOGC", "50"),
        ("GOMEMLIMIT", "256MiB"),
        ("GOMAXPROCS", "3"),
        ("GODEBUG", "gctrace=1,madvdontneed=0,foo=bar"),
        ("UNRELATED", "x"),
    ]);
    let cfg = from_map(&map).unwrap();
    assert_eq!(cfg.gc_percent, GcPercent::Percent(50));
    assert_eq!(cfg.memory_limit, Some(256 * MIB));
    assert_eq!(cfg.gomaxprocs, 3);
    assert_eq!(cfg.debug.gctrace, 1);
    assert!(!cfg.debug.madvdontneed);
    assert_eq!(cfg.debug.unknown, ["foo=bar"]);

    let cfg = from_map(&vars(&[("GOGC", "off"), ("GOMEMLIMIT", "off")])).unwrap();
    assert_eq!(cfg.gc_percent, GcPercent::Off);
    assert_eq!(cfg.memory_limit, None);
    assert_eq!(cfg.gomaxprocs, default_gomaxprocs());
}

#[test]
fn from_vars_only_asks_for_the_four_variables() {
    let asked = std::cell::RefCell::new(Vec::new());
    Config::from_vars(|k| {
        asked.borrow_mut().push(k.to_owned());
        None
    })
    .unwrap();
    let mut asked = asked.into_inner();
    asked.sort();
    assert_eq!(asked, ["GODEBUG", "GOGC", "GOMAXPROCS", "GOMEMLIMIT"]);
}

#[test]
fn from_vars_reports_each_bad_variable() {
    let cases = [
        ("GOGC", "abc", "abc"),
        ("GOMEMLIMIT", "1GB", "1GB"),
        ("GOMAXPROCS", "0", "0"),
        ("GODEBUG", "gctrace=1,gcstoptheworld=5", "gcstoptheworld=5"),
    ];
    for (var, value, named) in cases {
        let err = from_map(&vars(&[(var, value)])).expect_err(var);
        assert_names(&err, var, named);
    }
    // With several bad variables, the first in the order GOGC, GOMEMLIMIT, GOMAXPROCS, GODEBUG.
    let all_bad = vars(&[
        ("GODEBUG", "gctrace=x"),
        ("GOMAXPROCS", "-1"),
        ("GOMEMLIMIT", "-1"),
        ("GOGC", "x"),
    ]);
    assert_eq!(from_map(&all_bad).unwrap_err().var, "GOGC");
}

#[test]
fn from_env_reads_the_process_environment() {
    // Nothing else in this test binary reads or writes these variables.
    std::env::set_var("GOGC", "150");
    std::env::set_var("GOMEMLIMIT", "1GiB");
    std::env::set_var("GOMAXPROCS", "2");
    std::env::set_var("GODEBUG", "gctrace=1");
    let got = Config::from_env();
    std::env::set_var("GOGC", "nonsense");
    let bad = Config::from_env();
    for var in ["GOGC", "GOMEMLIMIT", "GOMAXPROCS", "GODEBUG"] {
        std::env::remove_var(var);
    }
    let cfg = got.unwrap();
    assert_eq!(cfg.gc_percent, GcPercent::Percent(150));
    assert_eq!(cfg.memory_limit, Some(GIB));
    assert_eq!(cfg.gomaxprocs, 2);
    assert_eq!(cfg.debug.gctrace, 1);
    assert_names(&bad.unwrap_err(), "GOGC", "nonsense");
}

// ---------------------------------------------------------------------------------------------
// Builder
// ---------------------------------------------------------------------------------------------

#[test]
fn builder_sets_each_field() {
    let cfg = Config::default()
        .gogc(GcPercent::Percent(300))
        .memory_limit(Some(64 * MIB))
        .gomaxprocs(6)
        .godebug("gctrace=2,invalidptr=0")
        .unwrap();
    assert_eq!(cfg.gc_percent, GcPercent::Percent(300));
    assert_eq!(cfg.memory_limit, Some(64 * MIB));
    assert_eq!(cfg.gomaxprocs, 6);
    assert_eq!(cfg.debug.gctrace, 2);
    assert!(!cfg.debug.invalidptr);

    let cfg = cfg.gogc(GcPercent::Off).memory_limit(None);
    assert_eq!(cfg.gc_percent, GcPercent::Off);
    assert_eq!(cfg.memory_limit, None);
}

#[test]
fn builder_matches_the_environment() {
    let from_code = Config::default()
        .gogc(GcPercent::Percent(50))
        .memory_limit(Some(GIB))
        .gomaxprocs(2)
        .godebug("clobberfree=1,zzz=1")
        .unwrap();
    let from_vars = from_map(&vars(&[
        ("GOGC", "50"),
        ("GOMEMLIMIT", "1GiB"),
        ("GOMAXPROCS", "2"),
        ("GODEBUG", "clobberfree=1,zzz=1"),
    ]))
    .unwrap();
    assert_eq!(from_code, from_vars);
}

#[test]
fn builder_edge_values() {
    // Go's "no limit" and anything above it become None.
    assert_eq!(Config::default().memory_limit(Some(i64::MAX as u64)).memory_limit, None);
    assert_eq!(Config::default().memory_limit(Some(u64::MAX)).memory_limit, None);
    assert_eq!(
        Config::default().memory_limit(Some(i64::MAX as u64 - 1)).memory_limit,
        Some(i64::MAX as u64 - 1)
    );
    assert_eq!(Config::default().memory_limit(Some(0)).memory_limit, Some(0));
    // As runtime.GOMAXPROCS(0): no change.
    assert_eq!(Config::default().gomaxprocs(5).gomaxprocs(0).gomaxprocs, 5);
    // Code may go beyond the environment's int32 range for GOGC.
    assert_eq!(
        Config::default().gogc(GcPercent::Percent(u32::MAX)).gc_percent,
        GcPercent::Percent(u32::MAX)
    );
}

#[test]
fn builder_godebug_accumulates_and_rejects() {
    let cfg = Config::default().godebug("gctrace=1,a=1").unwrap().godebug("gctrace=2,b=2").unwrap();
    assert_eq!(cfg.debug.gctrace, 2);
    assert_eq!(cfg.debug.unknown, ["a=1", "b=2"]);

    let err = Config::default().godebug("gccheckmark=maybe").unwrap_err();
    assert_names(&err, "GODEBUG", "gccheckmark=maybe");
}

#[test]
fn config_error_is_a_std_error() {
    let err: Box<dyn std::error::Error + Send + Sync> = Box::new(parse_gogc("x").unwrap_err());
    assert_eq!(err.to_string(), r#"invalid GOGC="x": not an integer or "off""#);
    // Values are quoted with escapes, so odd bytes stay visible.
    let err = parse_memory_limit("1\nGiB").unwrap_err();
    assert_eq!(err.value, "1\nGiB");
    assert!(err.to_string().starts_with(r#"invalid GOMEMLIMIT="1\nGiB": "#), "{err}");
}
