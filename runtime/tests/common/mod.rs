//! Helpers shared by the integration tests: running the built `gomem` binary, and the stress
//! tests' generator and payload.
#![allow(dead_code)] // each test crate uses its own subset

use std::process::{Command, Output};

/// Run `gomem ARGS` with a clean runtime environment: GOGC, GOMEMLIMIT, GODEBUG and gomem's
/// own Go-locating variables unset, GOMAXPROCS=2, then `env` on top.
pub fn gomem_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gomem"));
    c.args(args);
    for var in ["GOGC", "GOMEMLIMIT", "GOMAXPROCS", "GODEBUG", "GOMEM_GO", "GOMEM_GO_TWINS"] {
        c.env_remove(var);
    }
    c.env("GOMAXPROCS", "2");
    c.envs(env.iter().copied());
    c.output().expect("run gomem")
}

/// Output bytes as text (lossy).
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

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
