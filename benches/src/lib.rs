//! gomem-benches: workloads, criterion benches and the Go twins (placeholder).
