//! Helpers shared by the stress tests: their generator and payload.
#![allow(dead_code)] // each test crate uses its own subset

/// The stress tests' payload for an object id: what its `check` field must hold.
pub fn payload(id: u64) -> u64 {
    id.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5555
}

/// The stress tests' seeded generator (xorshift64).
pub struct Rng(pub u64);
impl Rng {
    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// A value below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}
