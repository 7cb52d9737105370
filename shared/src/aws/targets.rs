//! STS adapter for [`Targets`]: act in the incident's own account. The function's account uses its
//! own clients; a member account is reached through `arn:aws:iam::<account>:role/<member role>`,
//! assumed with STS (and the external id when configured), its clients cached per (account, region)
//! until shortly before the credentials expire.

use super::ec2::Ec2Compute;
use super::error::aws_error;
use super::fleet::AwsFleet;
use super::lazy::Lazy;
use super::sdk::compute_and_fleet;
use crate::error::{Error, Result};
use crate::incident::{AccountId, Region};
use crate::ports::Targets;
use aws_config::SdkConfig;
use aws_sdk_ec2::config::{Credentials, SharedCredentialsProvider};
use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::time::{Duration, SystemTime};

/// Credentials are renewed this long before they expire, so that no step starts with credentials
/// about to lapse.
const RENEW_BEFORE: Duration = Duration::from_secs(5 * 60);

/// (account, region) → that target's clients and when their credentials expire.
type ClientCache = HashMap<(String, String), (Ec2Compute, AwsFleet, SystemTime)>;

pub struct AwsTargets {
    sdk: SdkConfig,
    /// Needed only off Lambda or for a member account: built then.
    sts: Lazy<aws_sdk_sts::Client>,
    /// Learned from the invoked function's ARN, or from STS on first need (local runs).
    home_account: OnceCell<AccountId>,
    home_region: Option<Region>,
    member_role: String,
    external_id: Option<String>,
    dry_run: bool,
    home: (Ec2Compute, AwsFleet),
    cache: RefCell<ClientCache>,
}

impl AwsTargets {
    pub fn new(sdk: &SdkConfig, member_role: &str, external_id: Option<&str>, dry_run: bool) -> Self {
        Self {
            sts: Lazy::new(sdk, aws_sdk_sts::Client::new),
            home_account: OnceCell::new(),
            home_region: sdk.region().and_then(|r| Region::parse(r.as_ref())),
            member_role: member_role.to_owned(),
            external_id: external_id.map(str::to_owned),
            dry_run,
            home: compute_and_fleet(sdk, dry_run),
            cache: RefCell::new(HashMap::new()),
            sdk: sdk.clone(),
        }
    }

    /// This account: as observed, or from STS `GetCallerIdentity` (which needs no permission).
    async fn home_account(&self) -> Result<AccountId> {
        if let Some(account) = self.home_account.get() {
            return Ok(account.clone());
        }
        let identity = self.sts.get_caller_identity().send().await.map_err(|e| aws_error("GetCallerIdentity", e))?;
        let account = identity
            .account()
            .and_then(AccountId::parse)
            .ok_or_else(|| Error::config("AWS credentials", "GetCallerIdentity returned no account id"))?;
        Ok(self.home_account.get_or_init(|| account).clone())
    }

    /// Who the caller is, as AWS authenticated it (STS `GetCallerIdentity`, which needs no permission):
    /// the identity an operator's answer is recorded with, never a name the shell claims.
    pub async fn caller_arn(&self) -> Result<String> {
        let identity = self.sts.get_caller_identity().send().await.map_err(|e| aws_error("GetCallerIdentity", e))?;
        identity
            .arn()
            .map(str::to_owned)
            .ok_or_else(|| Error::config("AWS credentials", "GetCallerIdentity returned no ARN"))
    }

    /// `<account>#<region>` of where the command line runs: the state table's scope of what Firebreak
    /// created there (its DNS Firewall, for `firebreak unblock`).
    pub async fn home_scope(&self) -> Result<String> {
        let region = self.home_region.as_ref().ok_or_else(|| Error::config("AWS region", "no region is configured"))?;
        Ok(format!("{}#{}", self.home_account().await?, region.as_str()))
    }

    /// This account's own EC2 and fleet ports (for `firebreak release`, which acts where it runs).
    pub fn home(&self) -> (Ec2Compute, AwsFleet) {
        self.home.clone()
    }

    fn role_arn(&self, account: &AccountId) -> String {
        match &self.home_region {
            Some(region) => region.role_arn(account, &self.member_role),
            None => format!("arn:aws:iam::{account}:role/{}", self.member_role),
        }
    }

    async fn assume(&self, account: &AccountId, region: &Region) -> Result<(Ec2Compute, AwsFleet, SystemTime)> {
        let arn = self.role_arn(account);
        let out = self
            .sts
            .assume_role()
            .role_arn(&arn)
            .role_session_name("firebreak")
            .set_external_id(self.external_id.clone())
            .duration_seconds(3600)
            .send()
            .await
            .map_err(|e| match aws_error("AssumeRole", e) {
                Error::Aws { code, message, retryable, .. } => Error::Aws {
                    operation: "AssumeRole",
                    code,
                    message: format!("cannot act in account {account}: assuming {arn} failed: {message}"),
                    retryable,
                },
                other => other,
            })?;
        let c = out
            .credentials()
            .ok_or_else(|| Error::config("AssumeRole", format!("no credentials returned for {arn}")))?;
        let expires =
            SystemTime::try_from(*c.expiration()).unwrap_or_else(|_| SystemTime::now() + Duration::from_secs(900));
        let credentials = Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_owned()),
            Some(expires),
            "firebreak-member",
        );
        let member = self
            .sdk
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .region(aws_config::Region::new(region.to_string()))
            .build();
        let (compute, fleet) = compute_and_fleet(&member, self.dry_run);
        Ok((compute, fleet, expires))
    }
}

impl Targets for AwsTargets {
    type Compute = Ec2Compute;
    type Fleet = AwsFleet;

    fn observe_function_arn(&self, arn: &str) {
        if let Some(account) = arn.split(':').nth(4).and_then(AccountId::parse) {
            let _ = self.home_account.set(account);
        }
    }

    async fn target(&self, account: Option<&AccountId>, region: Option<&Region>) -> Result<(Ec2Compute, AwsFleet)> {
        let home = self.home_account().await?;
        let account = account.unwrap_or(&home);
        let region = match (region, &self.home_region) {
            (Some(r), _) => r.clone(),
            (None, Some(home)) => home.clone(),
            (None, None) => {
                return Err(Error::config("AWS_REGION", "the incident names no region and none is configured"))
            }
        };
        if *account == home && Some(&region) == self.home_region.as_ref() {
            return Ok(self.home());
        }
        let key = (account.to_string(), region.to_string());
        if let Some((compute, fleet, expires)) = self.cache.borrow().get(&key) {
            if SystemTime::now() + RENEW_BEFORE < *expires {
                return Ok((compute.clone(), fleet.clone()));
            }
        }
        let (compute, fleet, expires) = if *account == home {
            // Same account, another region: the function's own credentials.
            let regional = self.sdk.to_builder().region(aws_config::Region::new(region.to_string())).build();
            let (c, f) = compute_and_fleet(&regional, self.dry_run);
            (c, f, SystemTime::now() + Duration::from_secs(365 * 24 * 3600))
        } else {
            self.assume(account, &region).await?
        };
        self.cache.borrow_mut().insert(key, (compute.clone(), fleet.clone(), expires));
        Ok((compute, fleet))
    }
}
