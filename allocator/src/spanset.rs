//! Span sets (placeholder being written).
