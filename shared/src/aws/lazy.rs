//! SDK clients built on first use.

use aws_config::SdkConfig;
use std::sync::{Arc, OnceLock};

/// A client built on first use. The ports reach eleven services and most runs call four: each client
/// built (its configuration, its plugins, its code paged in) costs memory a run may never need. Clones
/// share the one client, once built.
pub struct Lazy<C> {
    sdk: SdkConfig,
    make: fn(&SdkConfig) -> C,
    client: Arc<OnceLock<C>>,
}

impl<C> Lazy<C> {
    pub fn new(sdk: &SdkConfig, make: fn(&SdkConfig) -> C) -> Self {
        Self { sdk: sdk.clone(), make, client: Arc::new(OnceLock::new()) }
    }

    /// Whether the client was built (what a run has touched).
    pub fn is_built(&self) -> bool {
        self.client.get().is_some()
    }
}

impl<C> Clone for Lazy<C> {
    fn clone(&self) -> Self {
        Self { sdk: self.sdk.clone(), make: self.make, client: Arc::clone(&self.client) }
    }
}

impl<C> std::ops::Deref for Lazy<C> {
    type Target = C;

    fn deref(&self) -> &C {
        self.client.get_or_init(|| (self.make)(&self.sdk))
    }
}

/// A configuration that reaches no endpoint: enough to build clients.
#[cfg(test)]
pub(super) fn offline() -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_is_built_on_first_use_and_shared_by_every_clone() {
        let lazy = Lazy::new(&offline(), aws_sdk_sts::Client::new);
        let clone = lazy.clone();
        assert!(!lazy.is_built() && !clone.is_built(), "nothing built up front");
        let region = clone.config().region().map(|r| r.to_string());
        assert_eq!(region.as_deref(), Some("us-east-1"), "built from the configuration it was given");
        assert!(lazy.is_built(), "the original sees the client its clone built");
    }
}
