//! Revoking a world-open ingress rule: exactly the offending permissions, every other rule untouched,
//! the group tagged with what was revoked and why.

use super::{Journal, Run};
use crate::error::Result;
use crate::plan::{Action, Plan};
use crate::policy::describe_permission;
use crate::ports::{Compute, Fleet, Notifier, Revocation, StateStore};
use crate::report::{Outcome, Report};
use std::collections::BTreeMap;

pub(super) async fn run<C: Compute, F: Fleet, N: Notifier, S: StateStore>(
    r: &Run<'_, C, F, N, S>,
    journal: &Journal<'_, S>,
    plan: &Plan,
    now: &str,
    report: &mut Report,
) {
    let Some((group_id, permissions)) = plan.actions.iter().find_map(|a| match &a.action {
        Action::RevokeSecurityGroupIngress { group_id, permissions } => Some((group_id, permissions)),
        _ => None,
    }) else {
        return;
    };
    let outcome = journal
        .step("revoke_security_group_ingress", || async {
            let mut revoked = Vec::new();
            let mut gone = Vec::new();
            for p in permissions {
                let text = match &p.rule_id {
                    Some(id) => format!("{} ({id})", describe_permission(p)),
                    None => describe_permission(p),
                };
                match r.compute.revoke_ingress(group_id, p).await? {
                    Revocation::Revoked => revoked.push(text),
                    Revocation::AlreadyGone => gone.push(text),
                }
            }
            if revoked.is_empty() {
                return Ok(Outcome::skipped(format!("already gone: {}", gone.join(", "))));
            }
            tag_group(r, group_id, plan, &revoked, now).await?;
            let mut detail = format!("revoked {} on {group_id}", revoked.join(", "));
            if !gone.is_empty() {
                detail.push_str(&format!("; already gone: {}", gone.join(", ")));
            }
            Ok(Outcome::done(detail))
        })
        .await;
    report.push("revoke_security_group_ingress", outcome);
}

async fn tag_group<C: Compute, F, N, S>(
    r: &Run<'_, C, F, N, S>,
    group_id: &str,
    plan: &Plan,
    revoked: &[String],
    now: &str,
) -> Result<()> {
    let why = format!("{} ({})", plan.rule.unwrap_or("CT-NET-001"), plan.incident_key);
    let tags = BTreeMap::from([
        ("firebreak:revoked".to_owned(), revoked.join(", ").chars().take(256).collect()),
        ("firebreak:revoked-at".to_owned(), now.to_owned()),
        ("firebreak:revoked-why".to_owned(), why.chars().take(256).collect()),
    ]);
    r.compute.tag(group_id, &tags).await
}
