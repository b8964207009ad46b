//! The exporters of a recorded [`Timeline`](gomem::timeline::Timeline): `gomem run --trace`
//! writes a Chrome trace-event file ([`chrome`]) and `--plot` an SVG chart ([`plot`]).
//!
//! The recorder itself ([`gomem::timeline::Recorder`]) is part of the library and needs no
//! dependency; these two need `serde_json` and `plotters`, so they live with the command.

pub mod chrome;
pub mod plot;

#[cfg(test)]
mod tests;
