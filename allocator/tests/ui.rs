//! Compile-fail tests: the allocator's items that can break its invariants cannot be used from
//! safe code (`docs/safety.md`). Each case in `tests/ui/` must fail to compile with the error
//! in its `.stderr` file; `TRYBUILD=overwrite` regenerates those after a deliberate change.
#![cfg(not(loom))]

#[test]
fn unsafe_internals_need_unsafe() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
