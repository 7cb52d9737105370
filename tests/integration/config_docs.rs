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

/// The service control policy the README offers for the security account names what the templates
/// deploy: the state table, the functions and roles by their prefixes, the keys' aliases, and the
/// idle-stop alarm prefix the alarm policy opts alarms in by.
#[test]
fn the_security_account_scp_protects_what_the_templates_deploy() {
    let root = crate::support::repo_root();
    let text = std::fs::read_to_string(root.join("docs/scp-security-account.json")).expect("the SCP");
    let scp: serde_json::Value = serde_json::from_str(&text).expect("the SCP is JSON");
    let statements = scp["Statement"].as_array().expect("statements");
    assert!(statements.iter().all(|s| s["Effect"] == "Deny"), "an SCP of denies only");
    let template = crate::iam::decode("template.yaml");
    let resources = &template["Resources"];
    assert!(
        text.contains(&format!("table/{}", resources["StateTable"]["Properties"]["TableName"].as_str().expect("name")))
    );
    for alias in ["DataKeyAlias", "TopicKeyAlias"] {
        let name = resources[alias]["Properties"]["AliasName"].as_str().expect("alias");
        assert!(name.starts_with("alias/firebreak-"), "{alias} {name} is covered by alias/firebreak-*");
    }
    assert!(
        text.contains("alias/firebreak-*")
            && text.contains("role/firebreak-*")
            && text.contains("function:firebreak-*")
    );
    assert!(text.contains(&format!("alarm:{}*", firebreak::policy::DEFAULT_IDLE_ALARM_PREFIX)));
    let functions: Vec<&str> = resources
        .as_object()
        .expect("resources")
        .values()
        .filter(|r| r["Type"] == "AWS::Serverless::Function")
        .filter_map(|r| r["Properties"]["FunctionName"].as_str())
        .collect();
    assert_eq!(functions.len(), firebreak::Function::ALL.len(), "{functions:?}");
    assert!(functions.iter().all(|f| f.starts_with("firebreak-")), "covered by function:firebreak-*: {functions:?}");
}
