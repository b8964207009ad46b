//! The `GOGC`, `GOMEMLIMIT`, `GOMAXPROCS` and `GODEBUG` parsers (`gomem::config`) against a
//! small model of Go's syntax written here from the grammar alone: no input panics, each
//! parser accepts exactly what the model accepts and gives the model's value, and accepted
//! values round-trip through their printed form.
#![no_main]

use arbitrary::Arbitrary;
use gomem::config::{parse_godebug, parse_gogc, parse_gomaxprocs, parse_memory_limit, Debug};
use gomem::GcPercent;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Input {
    /// Any text for each parser.
    Raw { gogc: String, limit: String, procs: String, godebug: String },
    /// A byte count built from parts, so accepted values are common.
    Limit { sign: u8, zeros: u8, n: u64, unit: u8 },
    /// A GODEBUG list built from known keys, values and separators.
    Godebug(Vec<(u8, i8, u8)>),
}

/// `[+-]?[0-9]+` as an integer (saturated far outside `i64`), or `None`.
fn go_int(s: &str) -> Option<i128> {
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut v: i128 = 0;
    for b in digits.bytes() {
        v = (v * 10 + i128::from(b - b'0')).min(1 << 100);
    }
    Some(if neg { -v } else { v })
}

fn model_gogc(s: &str) -> Option<GcPercent> {
    match s {
        "" => Some(GcPercent::Percent(100)),
        "off" => Some(GcPercent::Off),
        _ => {
            let n = go_int(s).filter(|&n| i32::try_from(n).is_ok())?;
            Some(if n < 0 { GcPercent::Off } else { GcPercent::Percent(n as u32) })
        }
    }
}

/// `Some(limit)` when accepted (`None` inside: no limit).
fn model_limit(s: &str) -> Option<Option<u64>> {
    if s.is_empty() || s == "off" {
        return Some(None);
    }
    let units = [("KiB", 10), ("MiB", 20), ("GiB", 30), ("TiB", 40), ("B", 0)];
    let (num, shift) =
        units.iter().find_map(|&(u, sh)| s.strip_suffix(u).map(|n| (n, sh))).unwrap_or((s, 0));
    let n = go_int(num).filter(|&n| n >= 0 && n <= i64::MAX as i128)?;
    let bytes = n << shift;
    if bytes > i64::MAX as i128 {
        return None;
    }
    Some(if bytes == i64::MAX as i128 { None } else { Some(bytes as u64) })
}

fn model_procs(s: &str) -> Option<usize> {
    if s.is_empty() {
        return Some(gomem::config::default_gomaxprocs());
    }
    go_int(s).filter(|&n| n >= 1 && n <= i32::MAX as i128).map(|n| n as usize)
}

const KEYS: [(&str, i128); 8] = [
    ("gctrace", 2),
    ("gcstoptheworld", 2),
    ("gccheckmark", 1),
    ("clobberfree", 1),
    ("madvdontneed", 1),
    ("scavtrace", 1),
    ("gcpacertrace", 1),
    ("invalidptr", 1),
];

fn model_godebug(s: &str) -> Option<Debug> {
    let mut d = Debug::default();
    for field in s.split(',').filter(|f| !f.is_empty()) {
        let Some((k, v)) = field.split_once('=') else {
            d.unknown.push(field.to_owned());
            continue;
        };
        let Some(&(_, max)) = KEYS.iter().find(|(key, _)| *key == k) else {
            d.unknown.push(field.to_owned());
            continue;
        };
        let n = go_int(v).filter(|&n| i32::try_from(n).is_ok() && (0..=max).contains(&n))?;
        let (b, l) = (n == 1, n as u8);
        match k {
            "gctrace" => d.gctrace = l,
            "gcstoptheworld" => d.gcstoptheworld = l,
            "gccheckmark" => d.gccheckmark = b,
            "clobberfree" => d.clobberfree = b,
            "madvdontneed" => d.madvdontneed = b,
            "scavtrace" => d.scavtrace = b,
            "gcpacertrace" => d.gcpacertrace = b,
            _ => d.invalidptr = b,
        }
    }
    Some(d)
}

/// The knobs of `d` printed as a GODEBUG list.
fn print_godebug(d: &Debug) -> String {
    let b = u8::from;
    format!(
        "gctrace={},gcstoptheworld={},gccheckmark={},clobberfree={},madvdontneed={},\
         scavtrace={},gcpacertrace={},invalidptr={}",
        d.gctrace,
        d.gcstoptheworld,
        b(d.gccheckmark),
        b(d.clobberfree),
        b(d.madvdontneed),
        b(d.scavtrace),
        b(d.gcpacertrace),
        b(d.invalidptr)
    )
}

fn gogc(s: &str) {
    let got = parse_gogc(s);
    assert_eq!(got.as_ref().ok().copied(), model_gogc(s), "GOGC={s:?}: {got:?}");
    if let Ok(v) = got {
        assert_eq!(parse_gogc(&v.to_string()).ok(), Some(v), "GOGC {v} round trip");
    } else if let Err(e) = got {
        assert!(e.to_string().contains("GOGC"), "{e}");
    }
}

fn limit(s: &str) {
    let got = parse_memory_limit(s);
    assert_eq!(got.as_ref().ok().copied(), model_limit(s), "GOMEMLIMIT={s:?}: {got:?}");
    match got {
        Ok(Some(b)) => {
            assert_eq!(parse_memory_limit(&b.to_string()).ok(), Some(Some(b)));
            let (unit, shift) = [("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10), ("B", 0)]
                .into_iter()
                .find(|&(_, sh)| b % (1u64 << sh) == 0)
                .expect("B divides everything");
            let text = format!("{}{unit}", b >> shift);
            assert_eq!(parse_memory_limit(&text).ok(), Some(Some(b)), "{text}");
        }
        Ok(None) => assert_eq!(parse_memory_limit("off").ok(), Some(None)),
        Err(e) => assert!(e.to_string().contains("GOMEMLIMIT"), "{e}"),
    }
}

fn procs(s: &str) {
    let got = parse_gomaxprocs(s);
    assert_eq!(got.as_ref().ok().copied(), model_procs(s), "GOMAXPROCS={s:?}: {got:?}");
    if let Ok(n) = got {
        assert_eq!(parse_gomaxprocs(&n.to_string()).ok(), Some(n));
    }
}

fn godebug(s: &str) {
    let mut d = Debug::default();
    let got = parse_godebug(s, &mut d);
    let want = model_godebug(s);
    match (&got, &want) {
        (Ok(()), Some(w)) => assert_eq!(&d, w, "GODEBUG={s:?}"),
        (Err(e), None) => {
            assert_eq!(d, Debug::default(), "a failed parse changed the settings");
            assert!(e.to_string().contains("GODEBUG"), "{e}");
        }
        _ => panic!("GODEBUG={s:?}: parser {got:?}, model {want:?}"),
    }
    if got.is_ok() {
        let mut again = Debug::default();
        parse_godebug(&print_godebug(&d), &mut again).expect("printed GODEBUG parses");
        again.unknown = d.unknown.clone();
        assert_eq!(again, d, "GODEBUG round trip");
    }
}

fuzz_target!(|input: Input| match input {
    Input::Raw { gogc: g, limit: l, procs: p, godebug: d } => {
        gogc(&g);
        limit(&l);
        procs(&p);
        godebug(&d);
        // The same texts through the other parsers too: none may panic on any text.
        for s in [&g, &l, &p, &d] {
            gogc(s);
            limit(s);
            procs(s);
        }
    }
    Input::Limit { sign, zeros, n, unit } => {
        let sign = ["", "+", "-", "--"][sign as usize % 4];
        let zeros = "0".repeat(zeros as usize % 24);
        let unit =
            ["", "B", "KiB", "MiB", "GiB", "TiB", "kib", "GB", "K", "iB"][unit as usize % 10];
        let s = format!("{sign}{zeros}{n}{unit}");
        limit(&s);
        gogc(&format!("{sign}{zeros}{n}"));
        procs(&format!("{sign}{zeros}{n}"));
    }
    Input::Godebug(fields) => {
        let mut s = String::new();
        for (k, v, sep) in fields.into_iter().take(12) {
            let key = KEYS.get(k as usize % 10).map_or(["x", "efence"][k as usize % 2], |kv| kv.0);
            s.push_str(key);
            match sep % 4 {
                0 => s.push_str(&format!("={v}")),
                1 => s.push_str(&format!("=+0{v}")),
                2 => s.push('='),
                _ => {}
            }
            s.push(',');
            if sep & 4 != 0 {
                s.push(',');
            }
        }
        godebug(&s);
    }
});
