//! GuardDuty policy: contain compromised instances, notify for everything else worth a look.

use super::draft::{step, Draft};
use super::settings::Policy;
use crate::incident::{
    AccessKeyDetails, AttackSequence, GuardDutyFinding, GuardDutyResourceType, InstanceId, SeverityLabel, Workload,
};
use crate::plan::{Decision, PlannedStep, Step};

/// The finding type prefix of the one attack sequence whose instances Firebreak contains.
const EC2_INSTANCE_GROUP_SEQUENCE: &str = "AttackSequence:EC2/CompromisedInstanceGroup";

pub(super) fn decide(f: &GuardDutyFinding, policy: &Policy) -> Draft {
    let mut draft = decide_finding(f, policy);
    if let (Some(scan), false) = (&f.malware_scan, draft.decision == Decision::Ignore) {
        let notify = draft.actions.iter().position(|a| a.step == Step::Notify).unwrap_or(draft.actions.len());
        draft.actions.insert(
            notify,
            step(
                Step::RecordScanResult {
                    scan_id: scan.scan_id.clone(),
                    trigger_finding_id: scan.trigger_finding_id.clone().filter(|_| !scan.on_demand),
                },
                "a malware scan produced this finding: it joins the incident whose scan it was",
            ),
        );
    }
    draft
}

fn decide_finding(f: &GuardDutyFinding, policy: &Policy) -> Draft {
    let severity = SeverityLabel::from_guardduty(f.severity);
    let target = match (&f.instance_id, &f.instance_name) {
        (Some(id), Some(name)) => format!(" on {id} ({name})"),
        (Some(id), None) => format!(" on {id}"),
        _ => format!(" ({})", f.resource_type),
    };
    let sample = if f.sample { "[SAMPLE] " } else { "" };
    let summary = format!("{sample}GuardDuty {}{target}", f.finding_type);
    if f.archived {
        return Draft::ignore(severity, summary, "the finding is archived (suppressed in GuardDuty)".into());
    }
    if f.severity < policy.notify_min_severity {
        return Draft::ignore(
            severity,
            summary,
            format!("severity {} is below the notification threshold {}", f.severity, policy.notify_min_severity),
        );
    }
    if f.sample {
        return Draft::notify(
            severity,
            summary,
            "sample finding: notified and marked as a sample, never contained".into(),
        );
    }
    if let Some(sequence) = &f.sequence {
        return sequence_decision(f, sequence, severity, summary, policy);
    }
    if let Some(key) = &f.access_key {
        if let Some(draft) = credential_decision(f, key, severity, &summary, policy) {
            return draft;
        }
    }
    if let Some(w) = f.workload.as_ref().filter(|w| w.platform == "ECS") {
        if let Some(draft) = ecs_task_decision(f, w, severity, &summary, policy) {
            return draft;
        }
    }
    let Some(instance_id) = f.instance_id.clone().filter(|_| f.resource_type == GuardDutyResourceType::Instance) else {
        let why = match &f.workload {
            Some(w) => format!(
                "a finding about an {} workload: Firebreak isolates EC2 instances only, so it notifies with the cluster, \
                 task and containers",
                w.platform
            ),
            None => format!(
                "a finding about resource type {}: Firebreak contains only EC2 instances, so it notifies",
                f.resource_type
            ),
        };
        return Draft::notify(severity, summary, why);
    };
    if f.severity < policy.containment_floor() {
        return Draft::notify(
            severity,
            summary,
            format!(
                "severity {} is below the containment threshold {}: notify only",
                f.severity,
                policy.containment_floor()
            ),
        );
    }
    let why = format!("severity {} ≥ {} on an EC2 instance: contain", f.severity, policy.containment_floor());
    let mut reasons = vec![why];
    let mut actions = containment(&instance_id, scans(f, policy));
    match f.dns_domain.as_deref().filter(|_| policy.block_domains).map(crate::domains::blockable) {
        // Before the receipt, which names the block in its DNS channel.
        Some(Ok(domain)) => actions.insert(
            actions.len() - 1,
            step(
                Step::BlockDomain { instance_id: instance_id.clone(), domain },
                "security groups cannot filter DNS: the finding's domain is answered NXDOMAIN in the instance's VPC",
            ),
        ),
        Some(Err(why)) => reasons.push(format!("the finding's domain is not blocked: {why}")),
        None => {}
    }
    actions.push(step(Step::Notify, "tell a person what happened and what was done"));
    Draft { decision: Decision::Contain, severity, summary, reasons, actions, rule: None }
}

/// Whether a containment for `f` scans the instance for malware: when the policy says so, unless `f`
/// is the finding of a malware scan already.
fn scans(f: &GuardDutyFinding, policy: &Policy) -> bool {
    policy.scan_for_malware && f.malware_scan.is_none()
}

/// Every step that contains one instance, in the order the executor runs them within a phase.
fn containment(instance_id: &InstanceId, scan: bool) -> Vec<PlannedStep> {
    let id = || instance_id.clone();
    let scan = scan.then(|| {
        step(
            Step::ScanForMalware { instance_id: id() },
            "look for what the attacker left on its disks: GuardDuty's malware scan, its finding joined to this incident",
        )
    });
    let steps = vec![
        step(
            Step::DetachFromAutoScalingGroup { instance_id: id() },
            "first, out of Auto Scaling's hands, so the group neither replaces nor terminates it",
        ),
        step(
            Step::IsolateInstance { instance_id: id() },
            "cut every network interface off, tracked connections included",
        ),
        step(
            Step::RevokeInstanceCredentials { instance_id: id(), role_name: None, role_id: None },
            "its role credentials die with its network: denied wherever they were copied, and none fetched anew",
        ),
        step(
            Step::ProtectInstance { instance_id: id() },
            "keep the evidence: termination protection, shutdown behaviour stop",
        ),
        step(Step::DeregisterFromTargetGroups { instance_id: id() }, "stop it from receiving traffic"),
        step(Step::SnapshotVolumes { instance_id: id() }, "preserve the disks for forensics"),
        step(Step::TagInstance { instance_id: id() }, "mark it with the incident"),
    ];
    let verify = step(
        Step::VerifyContainment { instance_id: id() },
        "read every way out back: each verified closed, repaired once, or named as open",
    );
    steps.into_iter().chain(scan).chain([verify]).collect()
}

/// An attack sequence: the EC2 instance-group sequence contains every instance it names; every other
/// sequence (ECS, EKS, IAM, S3) is notified with its signals, actors and resources.
fn sequence_decision(
    f: &GuardDutyFinding,
    sequence: &AttackSequence,
    severity: SeverityLabel,
    summary: String,
    policy: &Policy,
) -> Draft {
    if !f.finding_type.starts_with(EC2_INSTANCE_GROUP_SEQUENCE) {
        let hosts = if sequence.container_hosts.is_empty() {
            String::new()
        } else {
            format!(
                "; {} EC2 instance(s) appear only as container hosts and are not isolated for it",
                sequence.container_hosts.len()
            )
        };
        return Draft::notify(
            severity,
            summary,
            format!(
                "an attack sequence of type {}: Firebreak contains only the instances of an {EC2_INSTANCE_GROUP_SEQUENCE} \
                 sequence, so it notifies with the sequence's signals, actors and resources{hosts}",
                f.finding_type
            ),
        );
    }
    if sequence.instances.is_empty() {
        return Draft::notify(
            severity,
            summary,
            "an EC2 instance-group attack sequence that names no instance Firebreak can act on: notify only".into(),
        );
    }
    if f.severity < policy.containment_floor() {
        return Draft::notify(
            severity,
            format!("{summary}: {} instance(s)", sequence.instances.len()),
            format!(
                "severity {} is below the containment threshold {}: notify only",
                f.severity,
                policy.containment_floor()
            ),
        );
    }
    let mut reasons = vec![format!(
        "attack sequence of severity {} ≥ {} naming {} EC2 instance(s): contain each of them, each under the \
         blast-radius cap",
        f.severity,
        policy.containment_floor(),
        sequence.instances.len()
    )];
    reasons.extend(sequence.instances.iter().map(|i| format!("{} is named {}", i.id, i.via)));
    if !sequence.possibly_truncated.is_empty() {
        reasons.push(format!(
            "{} list(s) the most instances GuardDuty returns ({}): the group may have more compromised instances than \
             named here; check it",
            sequence.possibly_truncated.join(", "),
            crate::events::SEQUENCE_GROUP_LIST_MAX
        ));
    }
    if !sequence.not_acted_on.is_empty() {
        reasons.push(format!("not acted on: {}", sequence.not_acted_on.join(", ")));
    }
    let mut actions: Vec<PlannedStep> =
        sequence.instances.iter().flat_map(|i| containment(&i.id, scans(f, policy))).collect();
    actions.push(step(Step::Notify, "tell a person about the whole sequence: every instance, and what was done to it"));
    Draft {
        decision: Decision::Contain,
        severity,
        summary: format!("{summary}: {} instance(s)", sequence.instances.len()),
        reasons,
        actions,
        rule: None,
    }
}

/// An ECS task finding at containment severity: stop the task when `FIREBREAK_ECS_STOP_TASK` allows,
/// or say why not. `None` when there is no task to speak of (a cluster-level finding).
fn ecs_task_decision(
    f: &GuardDutyFinding,
    w: &Workload,
    severity: SeverityLabel,
    summary: &str,
    policy: &Policy,
) -> Option<Draft> {
    let task_arn = w.task_arn.clone()?;
    let cluster = w.cluster.clone()?;
    // The approval band applies to every destructive plan, not only to isolation.
    if f.severity < policy.containment_floor() {
        return None;
    }
    if !policy.ecs_stop_task {
        return Some(Draft::notify(
            severity,
            summary.to_owned(),
            format!(
                "severity {} ≥ {} on an ECS task: stopping it is opt-in (FIREBREAK_ECS_STOP_TASK is off), so Firebreak \
                 notifies with the cluster, task and containers",
                f.severity, policy.contain_min_severity
            ),
        ));
    }
    Some(Draft {
        decision: Decision::Contain,
        severity,
        summary: summary.to_owned(),
        reasons: vec![format!(
            "severity {} ≥ {} on an ECS task and FIREBREAK_ECS_STOP_TASK is on: stop the task",
            f.severity, policy.contain_min_severity
        )],
        actions: vec![
            step(
                Step::StopEcsTask { cluster, task_arn },
                "stop the task: its containers, and the attacker's process in them, end (a service starts a fresh one)",
            ),
            step(Step::Notify, "tell a person what happened and what was done"),
        ],
        rule: None,
    })
}

/// An `AccessKey` finding at containment severity: an instance's role session is revoked for that
/// instance (and the instance isolated when the policy says so); a user's key and a role's other
/// sessions only when their opt-in is on. `None`: notify.
fn credential_decision(
    f: &GuardDutyFinding,
    key: &AccessKeyDetails,
    severity: SeverityLabel,
    summary: &str,
    policy: &Policy,
) -> Option<Draft> {
    if f.severity < policy.containment_floor() {
        return None;
    }
    let at = format!("severity {} ≥ {}", f.severity, policy.containment_floor());
    let exfiltration = f.finding_type.contains("InstanceCredentialExfiltration");
    if let Some(instance_id) = key.session_instance() {
        let role_name = key.user_name.clone();
        let role_id = key.session_role_id();
        if exfiltration && policy.contain_on_credential_exfiltration {
            let mut actions = containment(&instance_id, scans(f, policy));
            for planned in &mut actions {
                if let Step::RevokeInstanceCredentials { role_name: named, role_id: id, .. } = &mut planned.step {
                    named.clone_from(&role_name);
                    id.clone_from(&role_id);
                }
            }
            actions.push(step(Step::Notify, "tell a person what happened and what was done"));
            return Some(Draft {
                decision: Decision::Contain,
                severity,
                summary: format!("{summary} on {instance_id}"),
                reasons: vec![format!(
                    "{at}: the credentials of {instance_id} were used elsewhere; revoke them and contain the instance \
                     (FIREBREAK_CONTAIN_ON_CREDENTIAL_EXFILTRATION)"
                )],
                actions,
                rule: None,
            });
        }
        return Some(Draft {
            decision: Decision::Revoke,
            severity,
            summary: format!("{summary} on {instance_id}"),
            reasons: vec![format!(
                "{at}: credentials issued to {instance_id} were used by someone else; revoke exactly those (the \
                 instance keeps running for a person to judge: FIREBREAK_CONTAIN_ON_CREDENTIAL_EXFILTRATION is off)"
            )],
            actions: vec![
                step(
                    Step::RevokeInstanceCredentials { instance_id, role_name, role_id },
                    "deny every request made with this instance's role credentials, wherever they are used",
                ),
                step(Step::Notify, "tell a person what happened and what was done"),
            ],
            rule: None,
        });
    }
    match key.user_type.as_deref() {
        Some("IAMUser") => {
            let (Some(user_name), Some(access_key_id)) = (key.user_name.clone(), key.access_key_id.clone()) else {
                return None;
            };
            if !policy.deactivate_user_keys {
                return Some(Draft::notify(
                    severity,
                    summary.to_owned(),
                    format!(
                        "{at} on IAM user {user_name}'s key: deactivating it is opt-in (FIREBREAK_DEACTIVATE_USER_KEYS \
                         is off)"
                    ),
                ));
            }
            Some(Draft {
                decision: Decision::Revoke,
                severity,
                summary: summary.to_owned(),
                reasons: vec![format!(
                    "{at} on IAM user {user_name}'s key and FIREBREAK_DEACTIVATE_USER_KEYS is on: deactivate it"
                )],
                actions: vec![
                    step(
                        Step::DeactivateAccessKey { user_name, access_key_id },
                        "the key stops working; it can be made active again",
                    ),
                    step(Step::Notify, "tell a person what happened and what was done"),
                ],
                rule: None,
            })
        }
        Some("AssumedRole") => {
            let role_name = key.user_name.clone()?;
            if policy.revoke_role_sessions && f.updated_at.is_empty() {
                return Some(Draft::notify(
                    severity,
                    summary.to_owned(),
                    format!("{at} on a session of role {role_name}, but the finding has no updatedAt to bound the revocation by"),
                ));
            }
            if !policy.revoke_role_sessions {
                return Some(Draft::notify(
                    severity,
                    summary.to_owned(),
                    format!(
                        "{at} on a session of role {role_name} that is not an instance's: revoking the role's sessions \
                         hits every holder of the role, so it is opt-in (FIREBREAK_REVOKE_ROLE_SESSIONS is off)"
                    ),
                ));
            }
            Some(Draft {
                decision: Decision::Revoke,
                severity,
                summary: summary.to_owned(),
                reasons: vec![format!(
                    "{at} on a session of role {role_name} and FIREBREAK_REVOKE_ROLE_SESSIONS is on: deny its sessions \
                     issued before the finding ({})",
                    f.updated_at
                )],
                actions: vec![
                    step(
                        Step::RevokeRoleSessions { role_name, issued_before: f.updated_at.clone() },
                        "every session of the role issued before the finding stops working",
                    ),
                    step(Step::Notify, "tell a person what happened and what was done"),
                ],
                rule: None,
            })
        }
        _ => None,
    }
}
