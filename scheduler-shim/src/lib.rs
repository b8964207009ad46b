//! gomem-sched: the G/M/P model gomem's collector runs beside.
//!
//! This crate will hold GOMAXPROCS processors (P) with a slot for per-P state, simulated
//! goroutines (G) each run on its own OS thread (M) while it holds a P, safepoints polled with a
//! single relaxed load, stop-the-world with a token type that proves the world is stopped, and
//! "run this at each G's next safepoint" handshakes. It knows nothing about memory.
//!
//! Status: the subject of a later issue; no code yet.
#![deny(unsafe_op_in_unsafe_fn)]
