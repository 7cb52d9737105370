//! Serde helpers for payloads that disagree with themselves about types.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// `[]`, `{}` (CloudTrail's XML heritage) and `null` all mean "no items".
pub fn items<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let value = Value::deserialize(d)?;
    let list = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(list) => list,
        Value::Object(mut map) => match map.remove("items") {
            Some(Value::Array(list)) => list,
            Some(Value::Null) | None if map.is_empty() => return Ok(Vec::new()),
            Some(one) => vec![one],
            None => vec![Value::Object(map)],
        },
        one => vec![one],
    };
    list.into_iter().map(|v| serde_json::from_value(v).map_err(serde::de::Error::custom)).collect()
}

/// A boolean sent as `true` or as `"true"`.
pub fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Bool(b) => Some(b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    })
}

/// A string field that some producers send as a number.
pub fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    })
}
