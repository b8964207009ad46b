//! gomem-allocator: Go 1.27's memory allocator in Rust. (Crate essay written with the core.)
#![deny(unsafe_op_in_unsafe_fn)]

pub mod consts;
pub mod os;
pub mod pagealloc;
pub mod sizeclass;
pub mod spanset;
pub mod sync;
