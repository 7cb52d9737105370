//! Revoking a world-open ingress rule: exactly the offending permissions, every other rule untouched,
//! the group tagged with what was revoked and why.

use super::context::{Ports, StepContext};
use crate::error::Result;
use crate::incident::IngressPermission;
use crate::policy::describe_permission;
use crate::ports::{Compute, Revocation};
use crate::report::Outcome;
use std::collections::BTreeMap;

pub(super) async fn revoke<C: Compute, F, S>(
    r: &Ports<'_, C, F, S>,
    group_id: &str,
    permissions: &[IngressPermission],
    judged_together: bool,
    ctx: &StepContext<'_>,
) -> Result<Outcome> {
    if judged_together {
        // The earlier calls' ranges come from earlier events; the group itself says whether they are
        // really there, and only then is the whole judged world-open.
        let held = r.compute.ingress_held(group_id, permissions).await?;
        let missing: Vec<String> =
            permissions.iter().zip(held).filter(|(_, held)| !held).map(|(p, _)| describe_permission(p)).collect();
        if !missing.is_empty() {
            return Ok(Outcome::skipped(format!(
                "not revoked: judged together with ranges {group_id} does not hold now ({}); a person decides",
                missing.join(", ")
            )));
        }
    }
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
    let why = format!("{} ({})", ctx.plan.rule.unwrap_or("CT-NET-001"), ctx.plan.incident_key);
    let tags = BTreeMap::from([
        ("firebreak:revoked".to_owned(), revoked.join(", ").chars().take(256).collect()),
        ("firebreak:revoked-at".to_owned(), ctx.now.rfc3339.clone()),
        ("firebreak:revoked-why".to_owned(), why.chars().take(256).collect()),
    ]);
    r.compute.tag(group_id, &tags).await?;
    let mut detail = format!("revoked {} on {group_id}", revoked.join(", "));
    if !gone.is_empty() {
        detail.push_str(&format!("; already gone: {}", gone.join(", ")));
    }
    Ok(Outcome::done(detail))
}
