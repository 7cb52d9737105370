//! SNS deliveries: `Records[].Sns` as Lambda receives them, and the raw HTTPS notification body.
//! The message inside is parsed again, as a classic alarm notification or as an EventBridge event.

use super::alarm;
use super::envelope::{field, typed};
use crate::error::{Error, Result};
use crate::incident::Incident;
use aws_lambda_events::sns::{SnsMessage, SnsRecord};
use serde_json::Value;

/// How an EventBridge event found inside a message is parsed: the caller's own parser, passed in so that
/// this module does not reach back up to the one that calls it.
pub(super) type ParseEvent = fn(Value, &str) -> Result<Incident>;

pub(super) fn parse_sns_records(records: &Value, prefix: &str, parse_event: ParseEvent) -> Result<Vec<Incident>> {
    let records = records.as_array().ok_or_else(|| Error::refused(field(prefix, "Records"), "expected an array"))?;
    if records.is_empty() {
        return Err(Error::refused(field(prefix, "Records"), "no records"));
    }
    let mut incidents = Vec::with_capacity(records.len());
    for (n, record) in records.iter().enumerate() {
        let at = field(prefix, &format!("Records[{n}]"));
        if record.get("Sns").is_none() {
            let hint = if record.get("eventName").is_some() {
                " (a CloudTrail log-file record: deliver it in its EventBridge envelope, see wrap.py)"
            } else {
                ""
            };
            return Err(Error::refused(field(&at, "Sns"), format!("missing: not an SNS record{hint}")));
        }
        let record: SnsRecord = typed(record, &at)?;
        incidents.push(parse_message(record.sns, &field(&at, "Sns"), parse_event)?);
    }
    Ok(incidents)
}

pub(super) fn parse_sns_http_body(value: Value, prefix: &str, parse_event: ParseEvent) -> Result<Incident> {
    let message: SnsMessage = typed(value, prefix)?;
    parse_message(message, prefix, parse_event)
}

fn parse_message(sns: SnsMessage, prefix: &str, parse_event: ParseEvent) -> Result<Incident> {
    let at = field(prefix, "Message");
    let inner: Value =
        serde_json::from_str(&sns.message).map_err(|e| Error::refused(&at, format!("not a JSON document: {e}")))?;
    if inner.get("AlarmName").is_some() {
        return alarm::parse_classic(inner, Some(sns.message_id), &at);
    }
    parse_event(inner, &at)
}
