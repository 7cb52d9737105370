//! Seals on the state-table records that later decisions trust: the original groups `release`
//! restores, the metadata options it puts back, the request an approved run acts on. A seal is an
//! HMAC-SHA256 under a key only Firebreak's acting roles can read, over the record's fields as
//! written; a record whose seal does not verify was written around Firebreak and is refused.

use crate::error::{Error, Result};
use hmac::{KeyInit, Mac};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The shortest key accepted: the template generates 64 characters.
const MIN_KEY_BYTES: usize = 32;

pub struct Sealer {
    key: Vec<u8>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    pub fn new(secret: &str) -> Result<Self> {
        if secret.len() < MIN_KEY_BYTES {
            return Err(Error::config(
                "FIREBREAK_STATE_KEY_SECRET_ARN",
                format!("the key is {} bytes; at least {MIN_KEY_BYTES} are needed", secret.len()),
            ));
        }
        Ok(Self { key: secret.as_bytes().to_vec() })
    }

    fn mac(&self, parts: &[&str]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes a key of any length");
        // Each part with its length first: no two lists of parts give the same input.
        for part in parts {
            mac.update(format!("{}:", part.len()).as_bytes());
            mac.update(part.as_bytes());
        }
        mac
    }

    /// The seal of a record made of `parts` (its kind first, then its fields in a fixed order).
    pub fn seal(&self, parts: &[&str]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.mac(parts).finalize().into_bytes())
    }

    /// Whether `seal` is this key's seal of `parts` (compared in constant time).
    pub fn verifies(&self, parts: &[&str], seal: &str) -> bool {
        use base64::Engine;
        let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(seal) else { return false };
        self.mac(parts).verify_slice(&bytes).is_ok()
    }
}

/// The refusal of a record whose seal is missing or wrong.
pub fn forged(record: &str) -> Error {
    Error::refused(
        "state",
        format!(
            "{record} is not sealed by Firebreak (written around it, or changed since): it is not trusted, \
             nothing was done with it"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seal_verifies_only_the_same_fields_under_the_same_key() {
        let sealer = Sealer::new(&"k".repeat(64)).expect("sealer");
        let seal = sealer.seal(&["quarantine", "i-1", "eni-1", "sg-1 sg-2"]);
        assert!(sealer.verifies(&["quarantine", "i-1", "eni-1", "sg-1 sg-2"], &seal));
        assert!(!sealer.verifies(&["quarantine", "i-1", "eni-1", "sg-9"], &seal), "other groups");
        assert!(
            !sealer.verifies(&["quarantine", "i-1", "eni-1s", "g-1 sg-2"], &seal),
            "the same bytes split otherwise"
        );
        let other = Sealer::new(&"x".repeat(64)).expect("sealer");
        assert!(!other.verifies(&["quarantine", "i-1", "eni-1", "sg-1 sg-2"], &seal), "another key");
        assert!(!sealer.verifies(&["quarantine", "i-1", "eni-1", "sg-1 sg-2"], "not base64!"));
        assert!(Sealer::new("short").is_err());
    }
}
