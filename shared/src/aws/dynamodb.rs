//! DynamoDB adapter for [`StateStore`]: the journal lives in the state table (`pk`, `expires_at`).

use super::aws_error;
use crate::error::{Error, Result};
use crate::ports::StateStore;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

/// Journals outlive any redelivery (GuardDuty re-emits a finding for days) but not forever.
const JOURNAL_TTL_SECONDS: u64 = 90 * 24 * 3600;

pub struct DynamoStateStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoStateStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: &str) -> Self {
        Self { client, table: table.to_owned() }
    }
}

fn state_error(e: Error) -> Error {
    Error::State(e.to_string())
}

fn journal_key(incident_key: &str) -> AttributeValue {
    AttributeValue::S(format!("journal#{incident_key}"))
}

impl StateStore for DynamoStateStore {
    async fn completed_steps(&self, incident_key: &str) -> Result<BTreeSet<String>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", journal_key(incident_key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| state_error(aws_error("GetItem", e)))?;
        Ok(match out.item().and_then(|item| item.get("steps")) {
            Some(AttributeValue::Ss(steps)) => steps.iter().cloned().collect(),
            _ => BTreeSet::new(),
        })
    }

    async fn record_step(&self, incident_key: &str, step: &str) -> Result<()> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", journal_key(incident_key))
            .update_expression("ADD steps :step SET expires_at = :expires")
            .expression_attribute_values(":step", AttributeValue::Ss(vec![step.to_owned()]))
            .expression_attribute_values(":expires", AttributeValue::N((now + JOURNAL_TTL_SECONDS).to_string()))
            .send()
            .await
            .map_err(|e| state_error(aws_error("UpdateItem", e)))?;
        Ok(())
    }
}
