//! gomem-benches: what measures gomem, kept out of the library runtimes link.
//!
//! This crate (not published) holds the `gomem` command (`src/bin/gomem.rs`: `run`, `compare`,
//! `sizeclasses`, `--trace`, `--plot`, `--json`), the [`workloads`] it runs and their Go twins
//! (`benches/go/`), the comparison with Go ([`workloads::compare`]), the suite of comparisons
//! whose tables the documents quote ([`figures`], run by `benches/figures.sh`), the exporters
//! of a recorded timeline ([`timeline`]), and the criterion benches (`benches/benches/`). It
//! carries the dependencies the library must not: clap, indicatif, plotters, serde and
//! serde_json.
//!
//! ```sh
//! cargo run --release -p gomem-benches -- run binary-trees --depth 16
//! cargo install --path benches      # installs the `gomem` command
//! ```

pub mod figures;
pub mod timeline;
pub mod workloads;
