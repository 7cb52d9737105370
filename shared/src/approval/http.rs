//! The approval function: Lambda function URL requests (payload format 2.0) and the scheduled sweep of
//! expired requests. A GET shows what would be done and changes nothing; only a POST of a valid token
//! answers.

use super::{page, Answer, Approver, Signer};
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::playbooks::Responder;
use crate::ports::{Containments, Notifier, StateStore, Targets};
use serde::Deserialize;
use serde_json::{json, Value};

/// The fields of a function URL request Firebreak reads (AWS Lambda developer guide, "Request and
/// response payloads": the API Gateway HTTP API payload format 2.0).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UrlRequest {
    /// `""` from AWS when there is no query; some emulators send `null`.
    #[serde(default)]
    pub raw_query_string: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub is_base64_encoded: bool,
    /// Lower-case names, as function URLs deliver them.
    #[serde(default)]
    pub headers: std::collections::HashMap<String, String>,
    pub request_context: UrlRequestContext,
}

#[derive(Debug, Deserialize)]
pub struct UrlRequestContext {
    pub http: UrlHttp,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UrlHttp {
    pub method: String,
    #[serde(default)]
    pub source_ip: Option<String>,
    #[serde(default)]
    pub user_agent: Option<String>,
}

/// One HTTP answer, as a function URL response.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub status: u16,
    pub html: String,
}

impl Page {
    pub fn malformed(why: &str) -> Self {
        Self::new(400, page::refused(&format!("This request is not one Firebreak understands ({why}).")))
    }

    fn new(status: u16, html: String) -> Self {
        Self { status, html }
    }

    /// The response payload: no caching, no referrer (the URL holds the token), no framing, no script.
    /// Every field of the documented response format is written out, `cookies` and `isBase64Encoded`
    /// included (local emulators read them as required).
    pub fn to_response(&self) -> Value {
        json!({
            "statusCode": self.status,
            "headers": {
                "content-type": "text/html; charset=utf-8",
                "cache-control": "no-store",
                "referrer-policy": "no-referrer",
                "x-frame-options": "DENY",
                "x-content-type-options": "nosniff",
                "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            },
            "body": self.html,
            "isBase64Encoded": false,
            "cookies": [],
        })
    }
}

/// What the approval function was invoked with.
pub enum Invocation {
    Url(UrlRequest),
    /// Shaped as a function URL request but not one: answered with a page saying so.
    MalformedUrl(String),
    /// The EventBridge schedule: close the requests whose deadline passed.
    Sweep,
}

/// Tell a function URL request from the schedule's event by shape; anything else is refused.
pub fn invocation(payload: Value) -> Result<Invocation> {
    if payload.pointer("/requestContext/http/method").is_some() {
        return Ok(serde_path_to_error::deserialize(payload).map_or_else(
            |e| Invocation::MalformedUrl(format!("{}: {}", e.path().clone(), e.into_inner())),
            Invocation::Url,
        ));
    }
    let scheduled = payload.get("source").and_then(Value::as_str) == Some("aws.events")
        && payload.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event");
    if scheduled {
        return Ok(Invocation::Sweep);
    }
    Err(Error::refused(
        "payload",
        "neither a function URL request (`requestContext.http`) nor the schedule's `Scheduled Event`",
    ))
}

fn decode(text: &str) -> String {
    crate::text::percent_decode(&text.replace('+', " "))
}

/// The value of `name` in a query string or form body (`application/x-www-form-urlencoded`).
pub fn form_value(encoded: &str, name: &str) -> Option<String> {
    encoded.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(k) == name).then(|| decode(v))
    })
}

impl<T: Targets, N: Notifier, S: StateStore> Responder<T, N, S> {
    /// Serve one function URL request; an approved containment runs through `containments`.
    pub async fn serve(
        &self,
        request: UrlRequest,
        signer: &Signer,
        containments: &impl Containments,
        clock: &Clock,
    ) -> Page {
        let now = clock.now().epoch;
        let (method, token) = match request.request_context.http.method.as_str() {
            "GET" | "HEAD" => ("GET", form_value(request.raw_query_string.as_deref().unwrap_or_default(), "token")),
            "POST" => {
                let body = request.body.clone().unwrap_or_default();
                let body = if request.is_base64_encoded {
                    use base64::Engine;
                    base64::engine::general_purpose::STANDARD
                        .decode(body.as_bytes())
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .unwrap_or_default()
                } else {
                    body
                };
                ("POST", form_value(&body, "token"))
            }
            _ => return Page::new(405, page::refused("Only GET (to look) and POST (to answer) are served here.")),
        };
        let Some(token_text) = token.filter(|t| !t.is_empty()) else {
            return Page::new(400, page::refused("This link carries no approval token."));
        };
        let token = match signer.verify(&token_text, now) {
            Ok(token) => token,
            Err(refusal) => return Page::new(403, page::refused(&refusal.to_string())),
        };
        let request_record = match self.state.approval(&token.key).await {
            Ok(Some(r)) => r,
            Ok(None) => {
                return Page::new(404, page::refused(&format!("There is no request for approval of {}.", token.key)))
            }
            Err(e) => {
                return Page::new(503, page::refused(&format!("The state table is unavailable ({e}); try again.")))
            }
        };
        if method == "GET" {
            if request_record.status != super::ApprovalStatus::Pending {
                let by = request_record.decided.as_ref().map(|b| format!(" ({})", b.describe())).unwrap_or_default();
                return Page::new(
                    409,
                    page::refused(&format!("This request was already {}{by}.", request_record.status.as_str())),
                );
            }
            return Page::new(200, page::confirmation(&request_record, token.verdict, &token_text));
        }
        let http = &request.request_context.http;
        let by = Approver {
            via: super::Via::Link,
            source_ip: http.source_ip.clone(),
            // The header itself (`requestContext.http.userAgent` is documented as its copy).
            user_agent: request.headers.get("user-agent").or(http.user_agent.as_ref()).cloned(),
            user: None,
            at: now,
        };
        tracing::info!(target: "firebreak::approval", key = token.key, verdict = token.verdict.as_str(), by = by.describe(), "answer");
        match self.answer(&token.key, token.verdict, by, clock, false).await {
            Ok(Answer::Approved) => match containments.contain_approved(&token.key).await {
                Ok(ran) => {
                    let report = ran.pointer("/reports/0").cloned().unwrap_or(ran);
                    Page::new(200, page::result(&request_record, "Approved: the containment ran", &report))
                }
                Err(e) => Page::new(
                    503,
                    page::refused(&format!(
                        "The approval is recorded, but the containment could not be run ({e}); an operator resumes it \
                         with firebreak approve '{}'.",
                        token.key
                    )),
                ),
            },
            Ok(Answer::Denied(report)) => {
                let report = serde_json::to_value(&report).unwrap_or_default();
                Page::new(200, page::result(&request_record, "Denied: nothing was done", &report))
            }
            Ok(Answer::Refused(why)) => Page::new(409, page::refused(&why)),
            Err(e) => Page::new(
                503,
                page::refused(&format!(
                    "Firebreak could not record the answer ({e}); this link still works until its deadline."
                )),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_values_are_percent_decoded() {
        assert_eq!(form_value("a=1&token=v1.approve.5.a%2Db.c", "token").as_deref(), Some("v1.approve.5.a-b.c"));
        assert_eq!(form_value("token=a+b", "token").as_deref(), Some("a b"));
        assert_eq!(form_value("token=%zz%", "token").as_deref(), Some("%zz%"));
        assert_eq!(form_value("other=1", "token"), None);
    }

    #[test]
    fn a_function_url_request_and_the_schedule_are_told_apart_by_shape() {
        let url = json!({"version": "2.0", "rawPath": "/", "rawQueryString": "token=x", "headers": {},
            "requestContext": {"http": {"method": "GET", "path": "/", "protocol": "HTTP/1.1",
            "sourceIp": "198.51.100.7", "userAgent": "curl/8"}}, "isBase64Encoded": false});
        assert!(matches!(invocation(url), Ok(Invocation::Url(r)) if r.raw_query_string.as_deref() == Some("token=x")));
        let malformed = json!({"requestContext": {"http": {"method": 7}}});
        assert!(matches!(invocation(malformed), Ok(Invocation::MalformedUrl(why)) if why.contains("method")));
        let schedule = json!({"version": "0", "id": "x", "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": "2026-12-01T12:00:00Z", "region": "us-east-1", "resources": [], "detail": {}});
        assert!(matches!(invocation(schedule), Ok(Invocation::Sweep)));
        let forged = json!({"detail-type": "Scheduled Event", "source": "my.app"});
        assert!(invocation(forged).is_err());
    }
}
