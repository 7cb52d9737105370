//! The state survives the stack: the records `release` trusts (original groups, credential records,
//! approvals) and the keys that read and seal them are kept when the stack is deleted or a change would
//! replace them, and the table cannot be deleted by accident.

use serde_json::Value;

/// Every resource of `type_` in template.yaml, by logical id.
fn resources_of(template: &Value, type_: &str) -> Vec<(String, Value)> {
    let resources = template["Resources"].as_object().expect("resources");
    resources.iter().filter(|(_, r)| r["Type"] == type_).map(|(id, r)| (id.clone(), r.clone())).collect()
}

#[test]
fn the_state_table_its_keys_and_its_secrets_outlive_the_stack() {
    let template = crate::iam::decode("template.yaml");
    let kept = ["AWS::DynamoDB::Table", "AWS::KMS::Key", "AWS::SecretsManager::Secret"];
    let mut seen = 0;
    for type_ in kept {
        for (id, resource) in resources_of(&template, type_) {
            seen += 1;
            assert_eq!(resource["DeletionPolicy"], "Retain", "{id}: DeletionPolicy");
            assert_eq!(resource["UpdateReplacePolicy"], "Retain", "{id}: UpdateReplacePolicy");
        }
    }
    assert_eq!(seen, 6, "the table, the topic and data keys, the three secrets");
    let table = &template["Resources"]["StateTable"]["Properties"];
    assert_eq!(table["DeletionProtectionEnabled"], true, "deletion protection");
    assert_eq!(table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], true, "point-in-time recovery");
}
