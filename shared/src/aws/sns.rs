//! SNS adapter for [`Notifier`]: one publish per incident, per-protocol bodies, filterable attributes.

use super::error::aws_error;
use crate::error::{Error, Result};
use crate::notify::Notification;
use crate::ports::Notifier;
use aws_sdk_sns::types::MessageAttributeValue;

pub struct SnsNotifier {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsNotifier {
    pub fn new(client: aws_sdk_sns::Client, topic_arn: &str) -> Self {
        Self { client, topic_arn: topic_arn.to_owned() }
    }
}

impl Notifier for SnsNotifier {
    async fn publish(&self, n: &Notification) -> Result<()> {
        let message = crate::notify::sns_message(n);
        let mut request = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(&n.subject)
            .message_structure("json")
            .message(message);
        for (name, value) in &n.attributes {
            let attribute = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| Error::refused(format!("notification.attributes.{name}"), e.to_string()))?;
            request = request.message_attributes(name, attribute);
        }
        request.send().await.map_err(|e| aws_error("Publish", e))?;
        Ok(())
    }
}
