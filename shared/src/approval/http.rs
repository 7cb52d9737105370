//! What the approval function is invoked with, told apart by shape: a Lambda function URL request
//! (payload format 2.0) or the scheduled sweep of expired requests; and the page it answers with. The
//! serving itself (a GET shows and changes nothing, only a POST of a valid token answers) is the
//! approval flow's (`playbooks`).

use super::page;
use crate::error::{Error, Result};
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

    pub fn new(status: u16, html: String) -> Self {
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
    /// An EventBridge schedule's event: refused here, the sweep runs in the GuardDuty responder.
    Sweep,
}

/// An EventBridge schedule's `Scheduled Event` (the sweep's trigger).
pub fn is_schedule(payload: &Value) -> bool {
    payload.get("source").and_then(Value::as_str) == Some("aws.events")
        && payload.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event")
}

/// Tell a function URL request from the schedule's event by shape; anything else is refused.
pub fn invocation(payload: Value) -> Result<Invocation> {
    if payload.pointer("/requestContext/http/method").is_some() {
        return Ok(serde_path_to_error::deserialize(payload).map_or_else(
            |e| Invocation::MalformedUrl(format!("{}: {}", e.path().clone(), e.into_inner())),
            Invocation::Url,
        ));
    }
    if is_schedule(&payload) {
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
