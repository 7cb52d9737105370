//! SNS deliveries: `Records[].Sns` as Lambda receives them, and the raw HTTPS notification body.
//! The message inside is parsed again, as a classic alarm notification or as an EventBridge event.

use super::{alarm, field, parse_at, typed};
use crate::error::{Error, Result};
use crate::incident::Incident;
use aws_lambda_events::sns::{SnsMessage, SnsRecord};
use serde_json::Value;

pub(super) fn parse_sns_records(records: &Value, prefix: &str) -> Result<Vec<Incident>> {
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
        incidents.push(parse_message(record.sns, &field(&at, "Sns"))?);
    }
    Ok(incidents)
}

pub(super) fn parse_sns_http_body(value: Value, prefix: &str) -> Result<Incident> {
    let message: SnsMessage = typed(value, prefix)?;
    parse_message(message, prefix)
}

fn parse_message(sns: SnsMessage, prefix: &str) -> Result<Incident> {
    let at = field(prefix, "Message");
    let inner: Value =
        serde_json::from_str(&sns.message).map_err(|e| Error::refused(&at, format!("not a JSON document: {e}")))?;
    if inner.get("AlarmName").is_some() {
        return alarm::parse_classic(inner, Some(sns.message_id), &at);
    }
    // An EventBridge event forwarded through SNS; SNS inside SNS is not a shape AWS sends.
    let mut incidents = parse_at(inner, &at, false)?;
    match incidents.len() {
        1 => Ok(incidents.remove(0)),
        n => Err(Error::refused(at, format!("expected one event, found {n}"))),
    }
}
