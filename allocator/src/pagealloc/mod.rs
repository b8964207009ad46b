//! Page allocator (placeholder being written).
