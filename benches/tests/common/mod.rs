//! Helpers shared by the command's integration tests: running the built `gomem` binary.
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
