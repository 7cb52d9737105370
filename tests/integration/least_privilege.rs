//! Least privilege, derived from the code: for each function, the AWS actions its code can call
//! (playbooks → port methods → the SDK operations the adapters send) are exactly the actions its role
//! grants in template.yaml, nothing more and nothing less.

use crate::support::repo_root;
use std::collections::{BTreeMap, BTreeSet};

fn read(path: &str) -> String {
    std::fs::read_to_string(repo_root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `describe_security_groups` → `DescribeSecurityGroups`.
fn pascal(snake: &str) -> String {
    snake.split('_').map(|w| w[..1].to_uppercase() + &w[1..]).collect()
}

/// Identifiers made of `[a-z0-9_]` that follow `needle` in `text`, e.g. the `x` of `self.client.x(`.
fn calls_after(text: &str, needle: &str) -> Vec<String> {
    text.match_indices(needle)
        .filter_map(|(at, _)| {
            let rest = &text[at + needle.len()..];
            let name: String =
                rest.chars().take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_').collect();
            (!name.is_empty() && rest[name.len()..].starts_with('(')).then_some(name)
        })
        .collect()
}

/// Function name → body (whitespace removed) for every `fn` in a source file.
fn functions(source: &str) -> BTreeMap<String, String> {
    let compact: String = source.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out = BTreeMap::new();
    let starts: Vec<usize> = compact.match_indices("fn ").map(|(at, _)| at).collect();
    for (n, &start) in starts.iter().enumerate() {
        let end = starts.get(n + 1).copied().unwrap_or(compact.len());
        let header = &compact[start + 3..];
        let name: String = header.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        let body: String = compact[start..end].chars().filter(|c| !c.is_whitespace()).collect();
        out.entry(name).or_insert_with(String::new).push_str(&body);
    }
    out
}

/// Port method → IAM actions, for one adapter file whose client fields map to IAM service prefixes.
fn adapter_actions(file: &str, clients: &[(&str, &str)]) -> BTreeMap<String, BTreeSet<String>> {
    let fns = functions(&read(file));
    let direct = |body: &str| -> BTreeSet<String> {
        clients
            .iter()
            .flat_map(|(field, service)| {
                calls_after(body, &format!("self.{field}."))
                    .into_iter()
                    .map(move |op| format!("{service}:{}", pascal(&op)))
            })
            .collect()
    };
    let mut resolved = BTreeMap::new();
    for name in fns.keys() {
        let mut seen = BTreeSet::new();
        let mut todo = vec![name.clone()];
        let mut actions = BTreeSet::new();
        while let Some(f) = todo.pop() {
            if !seen.insert(f.clone()) {
                continue;
            }
            if let Some(body) = fns.get(&f) {
                actions.extend(direct(body));
                todo.extend(calls_after(body, "self.").into_iter().filter(|c| fns.contains_key(c)));
            }
        }
        resolved.insert(name.clone(), actions);
    }
    resolved
}

/// The IAM actions the code of a function can call.
fn code_actions(playbook: &str) -> BTreeSet<String> {
    let ports: [(&str, BTreeMap<String, BTreeSet<String>>); 5] = [
        ("targets", adapter_actions("shared/src/aws/targets.rs", &[("sts", "sts")])),
        ("compute", adapter_actions("shared/src/aws/ec2.rs", &[("client", "ec2")])),
        (
            "fleet",
            adapter_actions(
                "shared/src/aws/fleet.rs",
                &[("autoscaling", "autoscaling"), ("elb", "elasticloadbalancing")],
            ),
        ),
        ("notifier", adapter_actions("shared/src/aws/sns.rs", &[("client", "sns")])),
        ("state", adapter_actions("shared/src/aws/dynamodb.rs", &[("client", "dynamodb")])),
    ];
    let sources: String = ["shared/src/lambda.rs", "shared/src/playbooks/mod.rs", playbook]
        .iter()
        .map(|f| read(f))
        .collect::<Vec<_>>()
        .join("\n");
    let compact: String = sources.chars().filter(|c| !c.is_whitespace()).collect();
    let mut actions = BTreeSet::new();
    // Only the ports' trait methods are calls into AWS (`facts.state.as_str()` is not).
    let traits = functions(&read("shared/src/ports.rs"));
    for (port, methods) in &ports {
        for method in calls_after(&compact, &format!("{port}.")).into_iter().filter(|m| traits.contains_key(m)) {
            let granted =
                methods.get(&method).unwrap_or_else(|| panic!("{port}.{method} has no adapter implementation"));
            actions.extend(granted.iter().cloned());
        }
    }
    actions
}

/// The lines of one top-level resource of template.yaml.
fn resource<'a>(template: &'a str, logical_id: &str) -> Vec<&'a str> {
    let header = format!("  {logical_id}:");
    let mut lines = template.lines().skip_while(|l| *l != header);
    let first = lines.next().unwrap_or_else(|| panic!("{logical_id} not in template.yaml"));
    std::iter::once(first)
        .chain(lines.take_while(|l| !(l.starts_with("  ") && !l.starts_with("   ") && l.trim_end().ends_with(':'))))
        .collect()
}

/// Actions named in `Action:` entries of the given lines.
fn actions_in(lines: &[&str]) -> BTreeSet<String> {
    let mut actions = BTreeSet::new();
    let mut list_indent: Option<usize> = None;
    for line in lines {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim();
        if let Some(i) = list_indent {
            if trimmed.starts_with("- ") && indent >= i {
                actions.insert(trimmed[2..].trim().to_owned());
                continue;
            }
            list_indent = None;
        }
        let Some(rest) = trimmed.strip_prefix("Action:").or_else(|| trimmed.strip_prefix("- Action:")) else {
            continue;
        };
        let rest = rest.trim();
        if rest.is_empty() {
            list_indent = Some(indent);
        } else {
            actions.extend(
                rest.trim_matches(|c| c == '[' || c == ']').split(',').map(|a| a.trim().trim_matches('"').to_owned()),
            );
        }
    }
    actions
}

/// (actions of the `respond` policy, actions of the `logs` policy) of the role of `firebreak-<name>`.
fn granted(name: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let template = read("template.yaml");
    let function_line = template
        .lines()
        .position(|l| l.trim() == format!("FunctionName: firebreak-{name}"))
        .expect("function in template");
    let role = template
        .lines()
        .skip(function_line)
        .find_map(|l| l.trim().strip_prefix("Role: !GetAtt ").and_then(|r| r.strip_suffix(".Arn")))
        .expect("explicit role");
    let lines = resource(&template, role);
    let policies = lines.iter().position(|l| l.trim() == "Policies:").expect("inline policies");
    let respond = lines.iter().position(|l| l.trim() == "- PolicyName: respond").expect("respond policy");
    (actions_in(&lines[respond..]), actions_in(&lines[policies..respond]))
}

const FUNCTIONS: [(&str, &str); 3] = [
    ("guardduty-responder", "shared/src/playbooks/contain.rs"),
    ("alarm-responder", "shared/src/playbooks/stop_idle.rs"),
    ("cloudtrail-responder", "shared/src/playbooks/revoke.rs"),
];

#[test]
fn each_function_is_granted_exactly_the_actions_its_code_calls() {
    for (name, playbook) in FUNCTIONS {
        let main = read(&format!("functions/{name}/src/main.rs"));
        let kind = name.trim_end_matches("-responder");
        assert!(
            main.contains(&format!("const KINDS: &[&str] = &[\"{kind}\"];")),
            "{name} acts only on {kind} incidents, so only {playbook} runs"
        );
        let code = code_actions(playbook);
        assert!(
            code.contains("sns:Publish") && code.iter().any(|a| a.starts_with("dynamodb:")),
            "{name}: the derivation found the common calls: {code:?}"
        );
        let (respond, _) = granted(name);
        assert_eq!(respond, code, "{name}: template grants (left) vs code calls (right)");
    }
}

#[test]
fn the_infrastructure_policy_grants_only_logging_the_failure_destination_and_the_data_key() {
    // Not called by Firebreak's code but by the Lambda service on its behalf: writing its logs, the
    // on-failure destination, and decrypting its environment and the table's key.
    let infrastructure: BTreeSet<String> =
        ["logs:CreateLogStream", "logs:PutLogEvents", "sqs:SendMessage", "kms:Decrypt", "kms:GenerateDataKey"]
            .map(String::from)
            .into();
    for (name, _) in FUNCTIONS {
        assert_eq!(granted(name).1, infrastructure, "{name}");
    }
}

#[test]
fn release_is_not_granted_to_any_function() {
    // `firebreak release` is an operator's command: no function may undo a quarantine.
    for (name, _) in FUNCTIONS {
        assert!(!granted(name).0.contains("ec2:DeleteTags"), "{name}");
    }
}
