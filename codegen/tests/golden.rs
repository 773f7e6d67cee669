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

/// Boxing follows `boxed="true"` in the dictionary, not the width of the group: a wide
/// group left unmarked is stored inline, a one-member group marked boxed is a `Boxed`.
#[test]
fn boxing_is_decided_by_the_dictionary() {
    let members: String = (10..60)
        .map(|c| format!(r#"<avp name="Leaf-{c}" code="{c}" type="Unsigned64"/>"#))
        .collect();
    let grammar: String = (10..60)
        .map(|c| format!(r#"<optional avp="Leaf-{c}"/>"#))
        .collect();
    let xml = format!(
        r#"<dictionary name="b">
          {members}
          <avp name="Wide" code="1" type="Grouped"><grouped>{grammar}</grouped></avp>
          <avp name="Tiny" code="2" type="Grouped" boxed="true"><grouped><optional avp="Leaf-10"/></grouped></avp>
          <avp name="Holder" code="3" type="Grouped"><grouped>
            <optional avp="Wide"/><required avp="Tiny"/>
          </grouped></avp>
        </dictionary>"#
    );
    let code = diameter_codegen::Config::new()
        .dictionary_text("b.xml", xml)
        .generate()
        .expect("valid");
    assert!(code.contains("pub wide: Option<super::b::Wide>,"), "{code}");
    assert!(
        code.contains("pub tiny: ::diameter_core::Boxed<super::b::Tiny>,"),
        "{code}"
    );
    assert!(code.contains("Stored boxed where it occurs at most once"));
}
