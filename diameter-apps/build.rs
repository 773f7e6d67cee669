//! Rebuilds when a migration is added under `migrations/` (refinery embeds the files at
//! compile time, and a new file is not something cargo would otherwise notice).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=build.rs");
}
