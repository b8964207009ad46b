//! The runtime's door to atomics and locks: the allocator's `sync` module, which switches to loom
//! under `cfg(loom)` (see `gomem_allocator::sync`). One door per crate, so a grep finds every
//! atomic the runtime uses.

pub use gomem_allocator::sync::*;
