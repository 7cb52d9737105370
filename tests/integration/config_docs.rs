//! Every `FIREBREAK_*` variable the code reads is documented in the README and set in template.yaml,
//! and neither names one the code does not read.

use crate::support::repo_root;
use std::collections::BTreeSet;

fn variables_in(file: &str) -> BTreeSet<String> {
    let text = std::fs::read_to_string(repo_root().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    let mut found = BTreeSet::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("FIREBREAK_") {
        let name: String =
            rest[at..].chars().take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_').collect();
        rest = &rest[at + name.len()..];
        // Test-harness variables are not configuration.
        if !name.starts_with("FIREBREAK_MOTO") && name.len() > "FIREBREAK_".len() {
            found.insert(name);
        }
    }
    found
}

#[test]
fn every_configuration_variable_is_documented_and_deployed() {
    let code: BTreeSet<String> = firebreak::config::VARIABLES.iter().map(|v| v.to_string()).collect();
    assert_eq!(variables_in("README.md"), code, "README.md");
    assert_eq!(variables_in("template.yaml"), code, "template.yaml");
}

#[test]
fn the_variable_list_is_the_one_config_reads() {
    let source = std::fs::read_to_string(repo_root().join("shared/src/config.rs")).expect("config.rs");
    for name in firebreak::config::VARIABLES {
        assert!(source.matches(&format!("\"{name}\"")).count() >= 2, "{name} is listed and read");
    }
}
