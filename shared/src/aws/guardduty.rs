//! GuardDuty's own copy of a finding (`GetFindings`), for [`Fleet::guardduty_finding`]: the JSON exactly
//! as GuardDuty answered, so that the same parser that reads an event reads what GuardDuty confirms.
//!
//! [`Fleet::guardduty_finding`]: crate::ports::Fleet::guardduty_finding

use super::error::{aws_error, code_of};
use crate::error::{Error, Result};
use aws_sdk_guardduty::config::interceptors::AfterDeserializationInterceptorContextRef;
use aws_sdk_guardduty::config::{ConfigBag, Intercept, RuntimeComponents};
use serde_json::Value;
use std::sync::{Arc, Mutex};

/// Keeps the body of the one response it is attached to. The SDK's typed `Finding` has no serialiser;
/// the body is the API's JSON, which is the event's `detail` shape.
#[derive(Debug, Clone, Default)]
struct ResponseBody(Arc<Mutex<Option<Vec<u8>>>>);

impl Intercept for ResponseBody {
    fn name(&self) -> &'static str {
        "FirebreakResponseBody"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if let (Some(bytes), Ok(mut kept)) = (context.response().body().bytes(), self.0.lock()) {
            *kept = Some(bytes.to_vec());
        }
        Ok(())
    }
}

/// The finding `finding_id` as detector `detector_id` of this account and region has it; `None` when
/// GuardDuty does not know it there (an unknown id is simply absent from the answer; a detector this
/// account does not own is refused with `BadRequestException`).
pub(super) async fn finding(
    client: &aws_sdk_guardduty::Client,
    detector_id: &str,
    finding_id: &str,
) -> Result<Option<Value>> {
    let body = ResponseBody::default();
    let sent = client
        .get_findings()
        .detector_id(detector_id)
        .finding_ids(finding_id)
        .customize()
        .interceptor(body.clone())
        .send()
        .await;
    match sent {
        Ok(_) => {}
        Err(e) if code_of(&e) == Some("BadRequestException") => return Ok(None),
        Err(e) => return Err(aws_error("GetFindings", e)),
    }
    let raw = body.0.lock().ok().and_then(|mut kept| kept.take());
    let answer: Value = raw
        .and_then(|raw| serde_json::from_slice(&raw).ok())
        .ok_or_else(|| Error::refused("GetFindings", "GuardDuty answered, but its answer could not be read as JSON"))?;
    Ok(answer
        .get("findings")
        .and_then(Value::as_array)
        .and_then(|all| all.iter().find(|f| f.get("id").and_then(Value::as_str) == Some(finding_id)))
        .cloned())
}
