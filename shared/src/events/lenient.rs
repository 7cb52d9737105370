//! Serde helpers for payloads that disagree with themselves about types.

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use std::fmt;

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

/// The string `key` of each object of a list, whatever else the list and its objects hold: never an
/// error, for a field read only as a hint (which must never be why an event is refused). Read in place,
/// without building a tree.
pub fn strings_at<'de, D: Deserializer<'de>>(d: D, key: &'static str) -> Result<Vec<String>, D::Error> {
    d.deserialize_any(StringsAt(key))
}

/// Visitor methods reading each named shape as nothing (`Default`): scalars (with `expecting`), strings,
/// and lists or objects, read through and dropped.
macro_rules! read_as_nothing {
    ($($shape:ident),*) => { $(read_as_nothing!(@ $shape);)* };
    (@ scalars) => {
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("anything")
        }
    };
    (@ str) => {
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
    };
    (@ seq) => {
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            IgnoredAny.visit_seq(seq).map(|_| Default::default())
        }
    };
    (@ map) => {
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            IgnoredAny.visit_map(map).map(|_| Default::default())
        }
    };
}

/// A visitor that is also its own seed: it reads whatever is there.
macro_rules! seed {
    ($visitor:ty) => {
        impl<'de> DeserializeSeed<'de> for $visitor {
            type Value = <Self as Visitor<'de>>::Value;
            fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_any(self)
            }
        }
    };
}

struct StringsAt(&'static str);

impl<'de> Visitor<'de> for StringsAt {
    type Value = Vec<String>;
    read_as_nothing!(scalars, str, map);
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut found = Vec::new();
        while let Some(one) = seq.next_element_seed(StringAt(self.0))? {
            found.extend(one);
        }
        Ok(found)
    }
}

struct StringAt(&'static str);
seed!(StringAt);

impl<'de> Visitor<'de> for StringAt {
    type Value = Option<String>;
    read_as_nothing!(scalars, str, seq);
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(wanted) = map.next_key_seed(KeyIs(self.0))? {
            if wanted {
                found = map.next_value_seed(AnyString)?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// Whether an object's key is the one wanted, read without a copy.
struct KeyIs(&'static str);
seed!(KeyIs);

impl<'de> Visitor<'de> for KeyIs {
    type Value = bool;
    read_as_nothing!(scalars, seq, map);
    fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
        Ok(key == self.0)
    }
}

/// A string, or nothing for any other shape.
struct AnyString;
seed!(AnyString);

impl<'de> Visitor<'de> for AnyString {
    type Value = Option<String>;
    read_as_nothing!(scalars, seq, map);
    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Some(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Hint {
        #[serde(default, deserialize_with = "vpcs")]
        list: Vec<String>,
    }

    fn vpcs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        strings_at(d, "vpcId")
    }

    fn read(json: &str) -> Vec<String> {
        let from_bytes: Hint = serde_json::from_str(json).expect("never refused");
        let tree: Value = serde_json::from_str(json).expect("json");
        let from_tree: Hint = serde_json::from_value(tree).expect("never refused");
        assert_eq!(from_bytes.list, from_tree.list, "{json}");
        from_bytes.list
    }

    #[test]
    fn a_hint_reads_the_key_of_each_object_and_whatever_else_is_there_as_nothing() {
        let documented = r#"{"list": [{"networkInterfaceId": "eni-1", "vpcId": "vpc-1", "securityGroups":
            [{"groupId": "sg-1"}]}, {"vpcId": "vpc-2", "privateIpAddresses": []}]}"#;
        assert_eq!(read(documented), ["vpc-1", "vpc-2"]);
        for odd in [
            r#"{"list": null}"#,
            r#"{"list": "vpc-1"}"#,
            r#"{"list": 3}"#,
            r#"{"list": {"vpcId": "vpc-1"}}"#,
            r#"{"list": [null, 1, "x", [], {"vpcId": 7}, {"vpcId": {"a": 1}}, {"vpcId": ["vpc-9"]}]}"#,
            r#"{}"#,
        ] {
            assert!(read(odd).is_empty(), "{odd}");
        }
        assert_eq!(read(r#"{"list": [{"vpcId": null}, {"vpcId": "vpc-3", "vpcId2": "x"}]}"#), ["vpc-3"]);
    }
}
