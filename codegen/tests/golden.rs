//! The generated code for a small fixture is pinned; `UPDATE_EXPECT=1` rewrites it (and fails,
//! so the diff gets reviewed).

use std::path::Path;

#[test]
fn generated_code_matches_expected() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let code = diameter_codegen::Config::new()
        .dictionary(dir.join("small.xml"))
        .generate()
        .expect("fixture is valid");
    let expected_path = dir.join("small.expected.rs");
    let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
    if std::env::var_os("UPDATE_EXPECT").is_some() && code != expected {
        std::fs::write(&expected_path, &code).unwrap();
        panic!("rewrote {}; review and commit it", expected_path.display());
    }
    assert!(
        code == expected,
        "generated code changed; rerun with UPDATE_EXPECT=1 and review the diff"
    );
}

#[test]
fn generation_is_deterministic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let once = diameter_codegen::Config::new()
        .dictionary(dir.join("small.xml"))
        .generate()
        .unwrap();
    let twice = diameter_codegen::Config::new()
        .dictionary(dir.join("small.xml"))
        .generate()
        .unwrap();
    assert_eq!(once, twice);
}
