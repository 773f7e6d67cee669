//! Output split per dictionary, `extern_dictionary`, and the `compile` error type.

use diameter_codegen::Config;

const USER: &str = r#"<dictionary name="acme" vendor="Acme">
  <import dictionary="base_rfc6733"/>
  <vendor id="99999" name="Acme"/>
  <avp name="Acme-Holder" code="1" type="Grouped" must="V"><grouped>
    <optional avp="Proxy-Info"/><optional avp="Disconnect-Cause"/>
  </grouped></avp>
</dictionary>"#;

#[test]
fn compile_writes_one_file_per_dictionary() {
    let out = tempfile::tempdir().unwrap();
    let main = Config::new()
        .standard_dictionaries()
        .out_dir(out.path())
        .compile()
        .expect("standard dictionaries are valid");
    assert_eq!(main, out.path().join("dictionaries.rs"));
    let top = std::fs::read_to_string(&main).unwrap();
    for m in [
        "base_rfc6733",
        "dcca_rfc4006",
        "sip_rfc4740",
        "tgpp_ts32299",
    ] {
        let module = std::fs::read_to_string(out.path().join(format!("{m}.rs"))).unwrap();
        assert!(module.starts_with("// This file is @generated"));
        assert!(module.contains("pub mod avp {") && module.contains("pub mod command {"));
        assert!(top.contains(&format!("pub mod {m} {{\n    include!(\"{m}.rs\");\n}}")));
    }
    // The split files hold the same items as the single-file output.
    let single = Config::new().standard_dictionaries().generate().unwrap();
    assert!(single.len() > top.len());
}

#[test]
fn extern_dictionary_is_named_not_generated() {
    let code = Config::new()
        .standard_dictionary("base_rfc6733")
        .extern_dictionary("base_rfc6733", "::diameter::dict::base_rfc6733")
        .dictionary_text("acme.xml", USER)
        .generate()
        .expect("valid");
    assert!(!code.contains("pub mod base_rfc6733"), "base regenerated");
    assert!(code.contains("pub mod acme"));
    assert!(
        code.contains("Option<::diameter::dict::base_rfc6733::ProxyInfo>"),
        "{code}"
    );
    assert!(code.contains("Option<::diameter::dict::base_rfc6733::DisconnectCause>"));
    // The whole-node message enum names the extern commands by their path.
    let compact: String = code.split_whitespace().collect();
    assert!(compact.contains(
        "CapabilitiesExchangeRequest(::diameter::dict::base_rfc6733::CapabilitiesExchangeRequest"
    ));
}

#[test]
fn extending_an_extern_dictionary_is_an_error() {
    let extend = r#"<dictionary name="acme" vendor="Acme">
      <import dictionary="base_rfc6733"/>
      <vendor id="99999" name="Acme"/>
      <avp name="Acme-X" code="1" type="Unsigned32" must="V"/>
      <extend avp="Proxy-Info"><grouped><optional avp="Acme-X"/></grouped></extend>
    </dictionary>"#;
    let errors = Config::new()
        .standard_dictionary("base_rfc6733")
        .extern_dictionary("base_rfc6733", "::diameter::dict::base_rfc6733")
        .dictionary_text("acme.xml", extend)
        .generate()
        .unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0]
        .message
        .contains("`Proxy-Info` of extern dictionary `base_rfc6733`"));
}

#[test]
fn unknown_extern_and_bad_path_are_errors() {
    let errors = Config::new()
        .standard_dictionary("base_rfc6733")
        .extern_dictionary("nope", "::x")
        .extern_dictionary("base_rfc6733", "not a path")
        .generate()
        .unwrap_err();
    let text: Vec<String> = errors.iter().map(|d| d.to_string()).collect();
    assert_eq!(errors.len(), 2, "{text:?}");
    assert!(text
        .iter()
        .any(|t| t.contains("`not a path` of `base_rfc6733` is not a Rust path")));
    assert!(text
        .iter()
        .any(|t| t.contains("extern dictionary `nope` is not among")));
}

#[test]
fn compile_error_prints_every_problem() {
    let out = tempfile::tempdir().unwrap();
    let bad = r#"<dictionary name="bad">
      <avp name="A" code="1" type="NoSuchType"/>
      <avp name="B" code="2" type="Grouped"><grouped><optional avp="Missing"/></grouped></avp>
    </dictionary>"#;
    let err = Config::new()
        .dictionary_text("bad.xml", bad)
        .out_dir(out.path())
        .compile()
        .unwrap_err();
    let shown = format!("{err:?}");
    assert_eq!(shown, err.to_string());
    assert!(err.len() >= 2, "{shown}");
    assert!(
        shown.lines().filter(|l| l.starts_with("bad.xml:")).count() >= 2,
        "{shown}"
    );
    assert!(
        std::fs::read_dir(out.path()).unwrap().next().is_none(),
        "wrote on error"
    );
}
