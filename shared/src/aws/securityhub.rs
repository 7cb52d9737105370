//! Security Hub adapter for [`Fleet::update_security_hub_finding`]: the workflow status and a note on an
//! ASFF finding (`BatchUpdateFindings`), the status and a comment on an OCSF one (`BatchUpdateFindingsV2`).
//! Nothing else of the finding is ever sent.
//!
//! [`Fleet::update_security_hub_finding`]: crate::ports::Fleet::update_security_hub_finding

use super::error::aws_error;
use crate::error::{Error, Result};
use crate::incident::FindingFormat;
use crate::write_back::{FindingUpdate, UPDATED_BY};
use aws_sdk_securityhub::types::{
    AwsSecurityFindingIdentifier, NoteUpdate, OcsfFindingIdentifier, WorkflowStatus, WorkflowUpdate,
};

/// Unprocessed-finding codes a retry may get past.
const TRANSIENT: &[&str] =
    &["ConcurrentUpdateError", "ConflictException", "InternalFailure", "InternalServerException"];

pub(super) async fn update(client: &aws_sdk_securityhub::Client, update: &FindingUpdate) -> Result<()> {
    let finding = &update.finding;
    let unprocessed: Vec<(String, String)> = match finding.format {
        FindingFormat::Asff => {
            let identifier =
                AwsSecurityFindingIdentifier::builder().id(&finding.id).product_arn(&finding.product_uid).build();
            let note = NoteUpdate::builder().text(&update.note).updated_by(UPDATED_BY).build();
            let out = client
                .batch_update_findings()
                .finding_identifiers(identifier)
                .workflow(WorkflowUpdate::builder().status(WorkflowStatus::from(update.status.asff())).build())
                .note(note)
                .send()
                .await
                .map_err(|e| aws_error("BatchUpdateFindings", e))?;
            out.unprocessed_findings()
                .iter()
                .map(|u| {
                    (u.error_code().unwrap_or_default().to_owned(), u.error_message().unwrap_or_default().to_owned())
                })
                .collect()
        }
        FindingFormat::Ocsf => {
            let identifier = OcsfFindingIdentifier::builder()
                .cloud_account_uid(&finding.account)
                .finding_info_uid(&finding.id)
                .metadata_product_uid(&finding.product_uid)
                .build();
            let out = client
                .batch_update_findings_v2()
                .finding_identifiers(identifier)
                .comment(&update.note)
                .set_status_id(update.status.ocsf())
                .send()
                .await
                .map_err(|e| aws_error("BatchUpdateFindingsV2", e))?;
            out.unprocessed_findings()
                .iter()
                .map(|u| {
                    (
                        u.error_code().map(|c| c.as_str().to_owned()).unwrap_or_default(),
                        u.error_message().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        }
    };
    match unprocessed.first() {
        None => Ok(()),
        Some((code, message)) => Err(Error::Aws {
            operation: match finding.format {
                FindingFormat::Asff => "BatchUpdateFindings",
                FindingFormat::Ocsf => "BatchUpdateFindingsV2",
            },
            code: Some(code.clone()),
            message: format!("{code}: Security Hub did not update {}: {message}", finding.id),
            retryable: TRANSIENT.contains(&code.as_str()),
        }),
    }
}
