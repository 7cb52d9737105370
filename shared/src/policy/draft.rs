//! What a per-kind decision returns, and the small helpers the kinds share.

use crate::incident::SeverityLabel;
use crate::plan::{Decision, PlannedStep, Step};

/// What a per-kind policy returns; `decide` adds what every plan has.
pub(super) struct Draft {
    pub decision: Decision,
    pub severity: SeverityLabel,
    pub summary: String,
    pub reasons: Vec<String>,
    pub actions: Vec<PlannedStep>,
    pub rule: Option<&'static str>,
}

impl Draft {
    pub fn ignore(severity: SeverityLabel, summary: String, why: String) -> Self {
        Self {
            decision: Decision::Ignore,
            severity,
            summary,
            reasons: vec![format!("ignored because {why}")],
            actions: Vec::new(),
            rule: None,
        }
    }

    pub fn notify(severity: SeverityLabel, summary: String, why: String) -> Self {
        Self {
            decision: Decision::Notify,
            severity,
            summary,
            actions: vec![step(Step::Notify, &why)],
            reasons: vec![why],
            rule: None,
        }
    }
}

pub(super) fn step(step: Step, reason: &str) -> PlannedStep {
    PlannedStep { step, reason: reason.to_owned(), awaits: Vec::new() }
}

/// `*` matches any run of characters; everything else matches itself.
pub(super) fn glob_matches(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::glob_matches;

    #[test]
    fn glob_matches_stars_anywhere() {
        assert!(glob_matches("idle-*", "idle-web-1"));
        assert!(glob_matches("*-idle", "web-idle"));
        assert!(glob_matches("*idle*", "web-idle-1"));
        assert!(glob_matches("a*b*c", "axxbyyc"));
        assert!(!glob_matches("idle-*", "busy-web"));
        assert!(!glob_matches("a*a", "a"));
        assert!(glob_matches("exact", "exact"));
    }
}
