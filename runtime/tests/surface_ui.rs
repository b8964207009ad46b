//! Compile-fail tests of the runtime's accessors (`docs/safety.md`): what a stopped world and
//! the scheduler's P states give safe code. Each case in `tests/ui_surface/` must fail to
//! compile with the error in its `.stderr` file; `TRYBUILD=overwrite` regenerates those after a
//! deliberate change.
#![cfg(not(loom))]

#[test]
fn the_runtime_ps_are_read_only() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui_surface/*.rs");
}
