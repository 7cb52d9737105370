//! What every EventBridge delivery shares: the envelope, typed deserialisation that names the failing
//! field, and where an event came from.

use crate::error::{Error, Result};
use crate::incident::{AccountId, Origin, Region};

/// The EventBridge envelope around every `detail`. `version` is optional: real events omit it.
#[derive(serde::Deserialize)]
pub(super) struct Envelope<D> {
    pub id: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
    pub detail: D,
}

/// Deserialise a `Value` (owned, or borrowed to avoid a copy) with the failing field's path in the
/// error, e.g. `detail.severity`.
pub(super) fn typed<'de, T: serde::Deserialize<'de>>(
    value: impl serde::Deserializer<'de, Error = serde_json::Error>,
    prefix: &str,
) -> Result<T> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        Error::refused(field(prefix, if path == "." { "payload" } else { &path }), inner)
    })
}

pub(super) fn field(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}

pub(super) fn envelope_origin(account: Option<&str>, region: Option<&str>) -> Origin {
    Origin { account: account.and_then(AccountId::parse), region: region.and_then(Region::parse) }
}
