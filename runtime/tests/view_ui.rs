//! Compile-fail tests of views (`gomem::view`, `docs/safety.md`, "Views"): while a `Ref` lives
//! the goroutine can reach no safepoint, and a `Ref` cannot escape its view or its thread. Each
//! case in `tests/ui_view/` must fail to compile with the error in its `.stderr` file;
//! `TRYBUILD=overwrite` regenerates those after a deliberate change.
#![cfg(not(loom))]

#[test]
fn a_ref_allows_no_safepoint_and_cannot_escape() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui_view/*.rs");
}
