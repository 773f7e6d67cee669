//! Nothing here: the comparison is the bench `benches/vs_diameter_crate.rs`.
