//! The approval pages: plain HTML, no script, no external asset, readable by a screen reader. Every
//! text that came from an event is escaped.

use super::{ApprovalRequest, Verdict};
use crate::clock::utc;

/// Escape text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#111;background:#fff}\
h1{font-size:1.5rem}dt{font-weight:600}dd{margin:0 0 .5rem 0}li{margin:.25rem 0}\
button{font-size:1.1rem;padding:.6rem 1.4rem;border:2px solid #111;border-radius:.3rem;cursor:pointer}\
.approve{background:#b00020;color:#fff;border-color:#b00020}.deny{background:#fff;color:#111}\
button:focus{outline:3px solid #0050b3;outline-offset:2px}.note{color:#444}";

fn document(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" \
         content=\"width=device-width, initial-scale=1\">\n<meta name=\"robots\" content=\"noindex\">\n<title>{} - \
         Firebreak</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n",
        escape(title)
    )
}

fn facts(request: &ApprovalRequest) -> String {
    let mut rows = vec![("Incident", request.key.clone()), ("Summary", request.summary.clone())];
    if let Some(account) = &request.account {
        rows.push(("Account", account.clone()));
    }
    if let Some(region) = &request.region {
        rows.push(("Region", region.clone()));
    }
    rows.push(("Requested", utc(request.requested_at)));
    rows.push(("Deadline", utc(request.deadline)));
    let rows: String =
        rows.iter().map(|(k, v)| format!("<dt>{k}</dt><dd>{}</dd>", escape(v))).collect::<Vec<_>>().join("\n");
    format!("<dl>\n{rows}\n</dl>")
}

fn list(items: &[String]) -> String {
    let items: String = items.iter().map(|i| format!("<li>{}</li>", escape(i))).collect::<Vec<_>>().join("\n");
    format!("<ul>\n{items}\n</ul>")
}

/// The page a link opens: what will be done to which instance, and one button that does it. Opening
/// it changes nothing (mail gateways and chat previews open links).
pub fn confirmation(request: &ApprovalRequest, verdict: Verdict, token: &str) -> String {
    let (title, intro, button, class) = match (verdict, request.is_idle_stop()) {
        (Verdict::Approve, false) => (
            "Approve this containment?",
            "Approving runs these steps now, exactly as an automatic containment would (blast-radius cap, \
             exemptions, journal, notification):",
            "Approve and contain now",
            "approve",
        ),
        (Verdict::Approve, true) => (
            "Approve this stop?",
            "Approving runs these steps now, exactly as an automatic idle stop would (confirmed with CloudWatch \
             again, stop cap, exemptions, journal, notification):",
            "Approve and stop now",
            "approve",
        ),
        (Verdict::Deny, false) => (
            "Deny this containment?",
            "Denying closes the request: none of these steps is run, now or when this finding is delivered again. \
             A new finding asks again.",
            "Deny: do nothing",
            "deny",
        ),
        (Verdict::Deny, true) => (
            "Deny this stop?",
            "Denying closes the request: none of these steps is run, now or when this alarm is delivered again.",
            "Deny: do nothing",
            "deny",
        ),
    };
    let body = format!(
        "<h1>{title}</h1>\n{}\n<h2>Why Firebreak asks</h2>\n{}\n<h2>What will be done</h2>\n<p>{intro}</p>\n{}\n\
         <form method=\"post\" action=\"./?token={}\">\n\
         <button type=\"submit\" class=\"{class}\">{button}</button>\n</form>\n<p class=\"note\">This link works \
         once, until {}. Opening this page did not change anything.</p>",
        facts(request),
        list(&request.reasons),
        list(&request.actions),
        escape(token),
        escape(&utc(request.deadline)),
    );
    document(title, &body)
}

/// The page after an answer: what was done, step by step, from the run's report (its JSON, as the
/// responder that ran it returned it).
pub fn result(request: &ApprovalRequest, heading: &str, report: &serde_json::Value) -> String {
    let text = |v: &serde_json::Value, k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or_default().to_owned();
    let lines: Vec<String> = report
        .get("actions")
        .and_then(|a| a.as_array())
        .into_iter()
        .flatten()
        .map(|a| {
            let target = a.get("target").and_then(|t| t.as_str()).map(|t| format!(" ({t})")).unwrap_or_default();
            let action = crate::plan::human_name(&text(a, "action")).to_owned();
            match text(a, "status").as_str() {
                "done" => format!("{action}{target}: done - {}", text(a, "detail")),
                "skipped" => format!("{action}{target}: not done - {}", text(a, "reason")),
                _ => format!("{action}{target}: FAILED - {}", text(a, "error")),
            }
        })
        .collect();
    let body = format!(
        "<h1>{}</h1>\n{}\n<h2>What Firebreak did</h2>\n{}\n<p class=\"note\">The same report went to the \
         notification topic; <code>firebreak incidents show</code> has the timeline.</p>",
        escape(heading),
        facts(request),
        list(&lines)
    );
    document(heading, &body)
}

/// A refused link: nothing was changed, and why.
pub fn refused(reason: &str) -> String {
    let body = format!(
        "<h1>Nothing was done</h1>\n<p>{}</p>\n<p class=\"note\">Ask for a new link by re-running the finding, or \
         answer from a terminal: <code>firebreak approve KEY</code> or <code>firebreak deny KEY</code>.</p>",
        escape(reason)
    );
    document("Nothing was done", &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approval::ApprovalStatus;

    fn request() -> ApprovalRequest {
        ApprovalRequest {
            key: "incident#guardduty#123456789012#us-east-1#abc".into(),
            status: ApprovalStatus::Pending,
            requested_at: 1_795_503_374,
            deadline: 1_795_506_974,
            summary: "GuardDuty Backdoor:EC2/C&CActivity.B on i-0abc1234def567890 (<script>alert(1)</script>)".into(),
            account: Some("123456789012".into()),
            region: Some("us-east-1".into()),
            reasons: vec!["approval required: severity 5 is in the approval band".into()],
            actions: vec!["Isolate it from the network (i-0abc1234def567890): cut every network interface off".into()],
            event: "{}".into(),
            decided: None,
        }
    }

    #[test]
    fn the_confirmation_page_names_each_step_and_instance_and_posts_the_token_in_its_url() {
        let page = confirmation(&request(), Verdict::Approve, "v1.approve.1.a.b");
        assert!(page.contains("Isolate it from the network (i-0abc1234def567890)"), "{page}");
        // The token in the URL and an empty body: what origin access control can sign (the front door).
        assert!(page.contains("<form method=\"post\" action=\"./?token=v1.approve.1.a.b\">"), "{page}");
        assert!(!page.contains("<input"), "{page}");
        assert!(page.contains("2026-11-24T07:56:14Z"), "the deadline: {page}");
        assert!(page.contains("<html lang=\"en\">") && page.contains("<main>"), "accessible landmarks");
    }

    #[test]
    fn event_text_is_escaped_and_the_page_loads_nothing_from_elsewhere() {
        let page = confirmation(&request(), Verdict::Deny, "t\"><script>");
        assert!(!page.contains("<script>"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        for external in ["src=", "href=", "http://", "https://", "@import"] {
            assert!(!page.contains(external), "{external} in {page}");
        }
    }
}
