//! gomem: Go's runtime memory manager rebuilt in Rust (placeholder essay).
#![deny(unsafe_op_in_unsafe_fn)]

pub use gomem_allocator as allocator;
