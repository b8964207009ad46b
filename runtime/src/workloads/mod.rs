//! Workloads the `gomem` command runs, written against the public API only (a runtime
//! implementer's code would look the same). Each has a Go twin under `benches/go/` (issue 5)
//! printing the same lines.

pub mod binary_trees;
