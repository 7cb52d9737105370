//! The policy's settings: the thresholds, lists and switches every per-kind decision reads (see the
//! README's policy table), and the rules that make a containment wait for a person.

/// The knobs of the default policy; see the README's policy table.
/// The name prefix that opts an alarm in to stopping instances (`FIREBREAK_IDLE_ALARM_PREFIX`).
pub const DEFAULT_IDLE_ALARM_PREFIX: &str = "idle-stop-";

/// A day: splitting the Internet across calls then costs an attacker a day per piece, while the item
/// that remembers a busy group's ranges stays small.
pub const DEFAULT_INGRESS_WINDOW_SECONDS: u64 = 24 * 60 * 60;

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub contain_min_severity: f64,
    pub notify_min_severity: f64,
    /// Alarm names matching this `*` glob are idle alarms, whatever their comparison.
    pub idle_alarm_pattern: Option<String>,
    /// Only an alarm whose name starts with this may stop an instance: anyone allowed
    /// `cloudwatch:PutMetricAlarm` can make an alarm whose threshold real datapoints "earn", and a name
    /// prefix is what IAM and SCPs can scope on the alarm's ARN.
    pub idle_alarm_prefix: String,
    /// Metrics that measure activity: a less-than alarm on anything else (free disk, free memory) is
    /// not an idle alarm.
    pub idle_metrics: Vec<String>,
    pub allowed_public_ports: Vec<u16>,
    pub revoke_public_ingress: bool,
    pub self_role_arns: Vec<String>,
    /// The role whose changes to Firebreak's own rules, topic, alarms, functions and roles are the
    /// deployment's (CT-SELF-002 reports anyone else's); changes CloudFormation makes are too.
    pub deployment_role_arn: Option<String>,
    pub notify_resolved: bool,
    /// Notify the parent state change of a multi-time-series alarm ("6 out of 6 time series evaluated
    /// to ALARM") as a summary; its contributors' own events are decided one by one either way.
    pub fleet_alarm_summary: bool,
    /// Stop the ECS task of a Runtime Monitoring finding at containment severity (opt-in: stopping a
    /// task its service replaces may only move the attacker; a person may prefer to look first).
    pub ecs_stop_task: bool,
    /// Also isolate the instance whose credentials were used outside it (`InstanceCredentialExfiltration`);
    /// by default they are revoked and the instance is left running for a person to judge.
    pub contain_on_credential_exfiltration: bool,
    /// Deactivate an IAM user's access key named by a high-severity finding (opt-in).
    pub deactivate_user_keys: bool,
    /// Deny a role's sessions issued before a high-severity finding about one of them (opt-in: every
    /// holder of the role loses its session).
    pub revoke_role_sessions: bool,
    /// Block the domain a containment's finding names in the instance's VPC's DNS (DNS Firewall).
    pub block_domains: bool,
    /// Start GuardDuty's on-demand malware scan of every contained instance.
    pub scan_for_malware: bool,
    /// Which Security Hub findings Firebreak writes its status and note back to.
    pub security_hub_write_back: SecurityHubWriteBack,
    /// When non-empty, only incidents in these accounts are acted on; others are refused and notified.
    pub accounts: Vec<String>,
    /// When non-empty, only incidents in these regions are acted on.
    pub regions: Vec<String>,
    /// The role Firebreak assumes in member accounts: its calls there are Firebreak's own.
    pub member_role_name: String,
    /// The share of an address family that the ranges of one call must cover together to count as
    /// open to the world (1.0: all of it, `0.0.0.0/0` or `0.0.0.0/1` + `128.0.0.0/1`).
    pub world_open_share: f64,
    /// How long the ranges a call adds to a group are judged together with later calls' (0: each call
    /// alone).
    pub ingress_window_seconds: u64,
    /// Which containments wait for a person (`FIREBREAK_APPROVAL_*`); all empty: none.
    pub approval: ApprovalPolicy,
    /// The organisation's containment preference, and the accounts that override it.
    pub preference: ContainmentPreference,
    pub account_preferences: std::collections::BTreeMap<String, ContainmentPreference>,
}

/// Which containments a person must approve first. Only configuration decides: nothing an attacker can
/// write (a tag, a name) turns an automatic containment into one that waits.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ApprovalPolicy {
    /// Contain-worthy findings from this severity up to (not including) the automatic containment
    /// threshold wait for approval instead of being only notified.
    pub min_severity: Option<f64>,
    /// Containments in these accounts always wait for approval.
    pub accounts: Vec<String>,
    /// Containments of these instances always wait for approval.
    pub instances: Vec<String>,
    /// An attack sequence naming more than this many instances waits for approval.
    pub sequence_instances: Option<usize>,
    /// What happens when nobody answers before the deadline.
    pub on_expiry: OnExpiry,
}

/// How far Firebreak goes without a person in an account, as AWS Security Incident Response offers
/// it: one setting for the organisation (`FIREBREAK_CONTAINMENT_PREFERENCE`), overridden per account
/// (`FIREBREAK_CONTAINMENT_PREFERENCE_ACCOUNTS`). Mapped onto the severity bands in one place,
/// [`Policy::for_account`]:
///
/// | preference | from `FIREBREAK_CONTAIN_MIN_SEVERITY` | the approval band below it | below the band |
/// |---|---|---|---|
/// | `approval-required` | waits for a person | waits for a person | notified |
/// | `contain-confirmed` (default) | contained | waits for a person (when the band is set) | notified |
/// | `contain-suspected` | contained | contained (the band, or from 4.0, GuardDuty's MEDIUM, without one) | notified |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContainmentPreference {
    ApprovalRequired,
    #[default]
    ContainConfirmed,
    ContainSuspected,
}

impl ContainmentPreference {
    pub const ALL: [Self; 3] = [Self::ApprovalRequired, Self::ContainConfirmed, Self::ContainSuspected];

    /// The setting's value: a contract with every deployment.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ApprovalRequired => "approval-required",
            Self::ContainConfirmed => "contain-confirmed",
            Self::ContainSuspected => "contain-suspected",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == text)
    }
}

/// Where `contain-suspected` starts containing when no approval band is set: GuardDuty's MEDIUM.
pub const SUSPECTED_FLOOR: f64 = 4.0;

/// Which Security Hub findings hear what Firebreak did (`FIREBREAK_SECURITY_HUB_WRITE_BACK`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecurityHubWriteBack {
    /// None.
    Off,
    /// The finding Security Hub delivered, in its own format.
    #[default]
    Delivered,
    /// That one, and for GuardDuty's own event its finding in Security Hub's OCSF.
    Ocsf,
    /// That one, and for GuardDuty's own event its finding in Security Hub CSPM's ASFF.
    Asff,
}

impl SecurityHubWriteBack {
    pub const ALL: [Self; 4] = [Self::Off, Self::Delivered, Self::Ocsf, Self::Asff];

    /// The setting's value: a contract with every deployment.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Delivered => "delivered",
            Self::Ocsf => "ocsf",
            Self::Asff => "asff",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == text)
    }
}

/// What happens to a request for approval nobody answered in time (`FIREBREAK_APPROVAL_ON_EXPIRY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnExpiry {
    /// Closed and notified; the next update of the finding GuardDuty sends asks again.
    #[default]
    AskAgain,
    /// Closed and notified; nothing more unless a new finding comes.
    Notify,
    /// Run as if approved: silence means yes (for teams that would rather contain than wait).
    Contain,
}

impl OnExpiry {
    pub const ALL: [Self; 3] = [Self::AskAgain, Self::Notify, Self::Contain];

    /// The setting's value: a contract with every deployment.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AskAgain => "ask-again",
            Self::Notify => "notify",
            Self::Contain => "contain",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == text)
    }
}

impl ApprovalPolicy {
    pub fn enabled(&self) -> bool {
        self.min_severity.is_some()
            || !self.accounts.is_empty()
            || !self.instances.is_empty()
            || self.sequence_instances.is_some()
    }
}

impl Policy {
    /// Whether any plan may wait for a person: an approval rule, or an `approval-required` preference
    /// for the organisation or an account.
    pub fn asks_for_approval(&self) -> bool {
        let required = ContainmentPreference::ApprovalRequired;
        self.approval.enabled()
            || self.preference == required
            || self.account_preferences.values().any(|p| *p == required)
    }

    /// The containment preference of `account`: its own, or the organisation's.
    pub fn preference_of(&self, account: Option<&str>) -> ContainmentPreference {
        account.and_then(|a| self.account_preferences.get(a)).copied().unwrap_or(self.preference)
    }

    /// The policy as it applies in `account`: `contain-suspected` contains the approval band (or from
    /// [`SUSPECTED_FLOOR`]) automatically; `approval-required` keeps the thresholds and makes every
    /// destructive plan wait (`policy::approval_required`); `contain-confirmed` is the policy as set.
    pub fn for_account(&self, account: Option<&str>) -> std::borrow::Cow<'_, Self> {
        match self.preference_of(account) {
            ContainmentPreference::ContainSuspected => {
                let floor = self.approval.min_severity.unwrap_or(SUSPECTED_FLOOR).min(self.contain_min_severity);
                let mut suspected = self.clone();
                suspected.contain_min_severity = floor;
                suspected.notify_min_severity = self.notify_min_severity.min(floor);
                suspected.approval.min_severity = None;
                std::borrow::Cow::Owned(suspected)
            }
            _ => std::borrow::Cow::Borrowed(self),
        }
    }

    /// The lowest severity at which an instance finding leads to a containment, automatic or approved.
    pub(super) fn containment_floor(&self) -> f64 {
        self.approval.min_severity.map_or(self.contain_min_severity, |s| s.min(self.contain_min_severity))
    }
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            contain_min_severity: 7.0,
            notify_min_severity: 4.0,
            idle_alarm_pattern: None,
            idle_alarm_prefix: DEFAULT_IDLE_ALARM_PREFIX.to_owned(),
            idle_metrics: ["CPUUtilization", "NetworkIn", "NetworkOut", "NetworkPacketsIn", "NetworkPacketsOut"]
                .map(String::from)
                .to_vec(),
            allowed_public_ports: vec![80, 443],
            revoke_public_ingress: true,
            self_role_arns: Vec::new(),
            deployment_role_arn: None,
            notify_resolved: false,
            fleet_alarm_summary: true,
            ecs_stop_task: false,
            contain_on_credential_exfiltration: false,
            deactivate_user_keys: false,
            revoke_role_sessions: false,
            block_domains: true,
            scan_for_malware: true,
            security_hub_write_back: SecurityHubWriteBack::default(),
            accounts: Vec::new(),
            regions: Vec::new(),
            member_role_name: "firebreak-member".to_owned(),
            world_open_share: 1.0,
            ingress_window_seconds: DEFAULT_INGRESS_WINDOW_SECONDS,
            approval: ApprovalPolicy::default(),
            preference: ContainmentPreference::default(),
            account_preferences: std::collections::BTreeMap::new(),
        }
    }
}
