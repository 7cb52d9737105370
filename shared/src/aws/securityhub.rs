//! Security Hub adapter for [`Fleet::update_security_hub_finding`]: the workflow status and a note on an
//! ASFF finding (`BatchUpdateFindings`), the status and a comment on an OCSF one (`BatchUpdateFindingsV2`).
//! Nothing else of the finding is ever sent.
//!
//! [`Fleet::update_security_hub_finding`]: crate::ports::Fleet::update_security_hub_finding

use super::error::aws_error;
use crate::error::{Error, Result};
use crate::incident::{FindingFormat, SecurityHubRef};
use crate::write_back::{FindingUpdate, UPDATED_BY};
use aws_sdk_securityhub::types::{
    AllowedOperators, AwsSecurityFindingFilters, AwsSecurityFindingIdentifier, CompositeFilter, NoteUpdate,
    OcsfFindingFilters, OcsfFindingIdentifier, OcsfStringField, OcsfStringFilter, RecordState, StringFilter,
    StringFilterComparison, WorkflowStatus, WorkflowUpdate,
};

/// The finding of `finding`'s id, product and account as Security Hub holds it: its workflow status, or
/// `None` when it holds none (`GetFindings` for ASFF, `GetFindingsV2` for OCSF, filtered to exactly it).
pub(super) async fn status(client: &aws_sdk_securityhub::Client, finding: &SecurityHubRef) -> Result<Option<String>> {
    let equals = |value: &str| StringFilter::builder().value(value).comparison(StringFilterComparison::Equals).build();
    match finding.format {
        FindingFormat::Asff => {
            let filters = AwsSecurityFindingFilters::builder()
                .id(equals(&finding.id))
                .product_arn(equals(&finding.product_uid))
                .aws_account_id(equals(&finding.account))
                .build();
            let out = client
                .get_findings()
                .filters(filters)
                .max_results(1)
                .send()
                .await
                .map_err(|e| aws_error("GetFindings", e))?;
            Ok(out.findings().first().map(|f| match f.record_state() {
                Some(RecordState::Archived) => "ARCHIVED".to_owned(),
                _ => f.workflow().and_then(|w| w.status()).map_or("NEW", |s| s.as_str()).to_owned(),
            }))
        }
        FindingFormat::Ocsf => {
            let field = |name: OcsfStringField, value: &str| {
                OcsfStringFilter::builder().field_name(name).filter(equals(value)).build()
            };
            let composite = CompositeFilter::builder()
                .string_filters(field(OcsfStringField::FindingInfoUid, &finding.id))
                .string_filters(field(OcsfStringField::MetadataProductUid, &finding.product_uid))
                .string_filters(field(OcsfStringField::CloudAccountUid, &finding.account))
                .operator(AllowedOperators::And)
                .build();
            let out = client
                .get_findings_v2()
                .filters(OcsfFindingFilters::builder().composite_filters(composite).build())
                .max_results(1)
                .send()
                .await
                .map_err(|e| aws_error("GetFindingsV2", e))?;
            Ok(out.findings().first().map(|doc| match doc {
                aws_smithy_types::Document::Object(map) => match map.get("status") {
                    Some(aws_smithy_types::Document::String(status)) => status.clone(),
                    _ => "Unknown".to_owned(),
                },
                _ => "Unknown".to_owned(),
            }))
        }
    }
}

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
