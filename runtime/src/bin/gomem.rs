//! The `gomem` command (placeholder).
fn main() {}
