//! What every EventBridge delivery shares: the envelope, typed deserialisation that names the failing
//! field, and where an event came from.

use crate::error::{Error, Result};
use crate::incident::{AccountId, Origin, Region};

/// The EventBridge envelope around every `detail`. `version` is optional: real events omit it.
#[derive(serde::Deserialize)]
pub(super) struct Envelope<D> {
    /// Read to tell an event deserialised straight from its bytes from another kind's.
    #[serde(rename = "detail-type", default)]
    pub detail_type: Option<String>,
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
        let inner = without_position(e.into_inner());
        Error::refused(field(prefix, if path == "." { "payload" } else { &path }), inner)
    })
}

/// The error's message alone: read from bytes, serde_json adds where (`at line 1 column 2142`), which
/// a payload read as a tree does not have; the field path names the place in both.
fn without_position(e: serde_json::Error) -> String {
    let text = e.to_string();
    match (e.line(), text.rfind(" at line ")) {
        (line, Some(at)) if line > 0 => text[..at].to_owned(),
        _ => text,
    }
}

/// [`typed`] of a part of an event already read (request parameters, say), the path tracked only
/// when the plain attempt fails.
pub(super) fn typed_part<T: serde::de::DeserializeOwned>(value: &serde_json::Value, prefix: &str) -> Result<T> {
    T::deserialize(value).or_else(|_| typed(value, prefix))
}

/// A payload's bytes deserialised straight into `T`, with no tree built first; `None` when they are
/// not a `T` (the general path then reads the payload and says why).
pub(super) fn from_bytes<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    let mut plain = serde_json::Deserializer::from_slice(bytes);
    let t = T::deserialize(&mut plain).ok()?;
    plain.end().ok()?;
    Some(t)
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
