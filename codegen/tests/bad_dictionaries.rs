//! Each `tests/bad/*.xml` must fail with exactly the diagnostics in the matching `.expected`
//! file (`file:line:col: message`, one per line). `UPDATE_EXPECT=1` rewrites them.

use std::path::Path;

#[test]
fn bad_dictionaries_report_located_errors() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.retain(|p| p.extension().is_some_and(|e| e == "xml"));
    files.sort();
    assert!(files.len() >= 10);
    let mut mismatches = Vec::new();
    for xml in files {
        let name = xml.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&xml).unwrap();
        let diags = diameter_codegen::Config::new()
            .dictionary_text(&name, text)
            .load()
            .expect_err(&format!("{name} must be rejected"));
        let got: String = diags.iter().map(|d| format!("{d}\n")).collect();
        let expected_path = xml.with_extension("expected");
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if got != expected {
            if std::env::var_os("UPDATE_EXPECT").is_some() {
                std::fs::write(&expected_path, &got).unwrap();
            }
            mismatches.push(format!("{name}:\n--- expected\n{expected}--- got\n{got}"));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
