//! Typed configuration from `FIREBREAK_*` variables, read once at start; a bad value names its variable.

use crate::error::{Error, Result};
use crate::policy::Policy;
use std::collections::BTreeMap;
use std::time::Duration;

/// Everything a process reads from its environment, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub policy: Policy,
    /// Where notifications go. Required by `respond` and the Lambda functions, not by `plan`.
    pub topic_arn: Option<String>,
    /// Pause between the untracking group and the isolation group.
    pub settle: Duration,
    /// Tag key that exempts an instance from every automatic action.
    pub exempt_tag: String,
    /// DynamoDB table (`pk`, `expires_at`) holding the journal. Required by `respond` and the functions.
    pub state_table: Option<String>,
    /// Hibernate instead of stop when the instance was launched with hibernation enabled.
    pub hibernate: bool,
    /// Opt-in mode: only instances carrying this `key=value` tag are stopped as idle.
    pub idle_require_tag: Option<(String, String)>,
    /// Every write becomes an EC2 `DryRun` call where the API has one, or is skipped.
    pub dry_run: bool,
    /// The deployment grants what revoking an instance's credentials needs (`iam:PutRolePolicy` on its
    /// role); `false` when the template's `AllowCredentialRevocation` removed the grant.
    pub revoke_instance_credentials: bool,
    /// Containments allowed per account per hour; past it, incidents are held back.
    pub max_containments_per_hour: u32,
    /// Of the containments of an hour, how many only findings of severity 8 or more may take
    /// (`crate::held::cap_for`): low findings cannot use up what a critical one needs.
    pub containments_reserved_for_severe: u32,
    /// Idle stops allowed per account per hour: a cap of their own, so an alarm storm cannot use up the
    /// slots containment needs.
    pub max_stops_per_hour: u32,
    /// Domains put on the DNS Firewall per account per hour: a cap of their own.
    pub max_blocked_domains_per_hour: u32,
    /// The priority of Firebreak's DNS Firewall rule group in each VPC (lowest is evaluated first).
    pub dns_firewall_priority: i32,
    /// `FIREBREAK_CHAT_FORMAT=chatbot`: the default SNS body is the AWS Chatbot custom-notification document.
    pub chatbot: bool,
    /// The role assumed in a member account to act there (`arn:aws:iam::<account>:role/<name>`).
    pub member_role_name: String,
    /// The external id the member role's trust policy requires, if any.
    pub member_external_id: Option<String>,
    /// The approval function's URL, where the links of a request for approval point.
    pub approval_url: Option<String>,
    /// The Secrets Manager secret holding the key that signs approval links.
    pub approval_secret_arn: Option<String>,
    /// The Secrets Manager secret holding the key that seals the records later decisions trust
    /// (`crate::seal`); unset: records are neither sealed nor checked.
    pub state_key_secret_arn: Option<String>,
    /// How long a request for approval stays open.
    pub approval_ttl: Duration,
    /// The function the approval function asks to run approved containments (the GuardDuty responder).
    pub containment_function: Option<String>,
    /// The function that runs approved idle stops (the alarm responder), for the approval function and
    /// the sweep; unset: idle stops are run where they are approved.
    pub idle_stop_function: Option<String>,
    /// The approval function's key for the alarm responder's links (each asking function signs with a
    /// key of its own).
    pub idle_approval_secret_arn: Option<String>,
}

/// Every variable Firebreak reads. The README's table and `template.yaml` list the same names.
/// How long a request may wait for a person, unless `FIREBREAK_APPROVAL_TTL_SECONDS` says otherwise.
pub const DEFAULT_APPROVAL_TTL: Duration = Duration::from_secs(3600);

pub const VARIABLES: &[&str] = &[
    "FIREBREAK_CONTAIN_MIN_SEVERITY",
    "FIREBREAK_NOTIFY_MIN_SEVERITY",
    "FIREBREAK_IDLE_ALARM_PATTERN",
    "FIREBREAK_IDLE_ALARM_PREFIX",
    "FIREBREAK_IDLE_METRICS",
    "FIREBREAK_ALLOWED_PUBLIC_PORTS",
    "FIREBREAK_REVOKE_PUBLIC_INGRESS",
    "FIREBREAK_SELF_ROLE_ARN",
    "FIREBREAK_DEPLOYMENT_ROLE_ARN",
    "FIREBREAK_NOTIFY_RESOLVED",
    "FIREBREAK_FLEET_ALARM_SUMMARY",
    "FIREBREAK_ECS_STOP_TASK",
    "FIREBREAK_REVOKE_INSTANCE_CREDENTIALS",
    "FIREBREAK_CONTAIN_ON_CREDENTIAL_EXFILTRATION",
    "FIREBREAK_DEACTIVATE_USER_KEYS",
    "FIREBREAK_REVOKE_ROLE_SESSIONS",
    "FIREBREAK_TOPIC_ARN",
    "FIREBREAK_SETTLE_SECONDS",
    "FIREBREAK_EXEMPT_TAG",
    "FIREBREAK_STATE_TABLE",
    "FIREBREAK_HIBERNATE",
    "FIREBREAK_IDLE_REQUIRE_TAG",
    "FIREBREAK_DRY_RUN",
    "FIREBREAK_MAX_CONTAINMENTS_PER_HOUR",
    "FIREBREAK_CONTAINMENTS_RESERVED_FOR_SEVERE",
    "FIREBREAK_ACCOUNTS",
    "FIREBREAK_REGIONS",
    "FIREBREAK_CHAT_FORMAT",
    "FIREBREAK_MEMBER_ROLE_NAME",
    "FIREBREAK_MEMBER_EXTERNAL_ID",
    "FIREBREAK_WORLD_OPEN_SHARE",
    "FIREBREAK_INGRESS_WINDOW_SECONDS",
    "FIREBREAK_MAX_STOPS_PER_HOUR",
    "FIREBREAK_APPROVAL_MIN_SEVERITY",
    "FIREBREAK_APPROVAL_ACCOUNTS",
    "FIREBREAK_APPROVAL_INSTANCES",
    "FIREBREAK_APPROVAL_SEQUENCE_INSTANCES",
    "FIREBREAK_APPROVAL_TTL_SECONDS",
    "FIREBREAK_APPROVAL_ON_EXPIRY",
    "FIREBREAK_CONTAINMENT_PREFERENCE",
    "FIREBREAK_CONTAINMENT_PREFERENCE_ACCOUNTS",
    "FIREBREAK_APPROVAL_URL",
    "FIREBREAK_APPROVAL_SECRET_ARN",
    "FIREBREAK_CONTAINMENT_FUNCTION",
    "FIREBREAK_IDLE_STOP_FUNCTION",
    "FIREBREAK_IDLE_APPROVAL_SECRET_ARN",
    "FIREBREAK_STATE_KEY_SECRET_ARN",
    "FIREBREAK_BLOCK_DOMAINS",
    "FIREBREAK_MAX_BLOCKED_DOMAINS_PER_HOUR",
    "FIREBREAK_DNS_FIREWALL_PRIORITY",
    "FIREBREAK_MALWARE_SCAN",
    "FIREBREAK_SECURITY_HUB_WRITE_BACK",
];

impl Config {
    /// Read from the process environment.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Read through `lookup`, so tests pass a map instead of mutating the environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let defaults = Policy::default();
        let contain = number(&get, "FIREBREAK_CONTAIN_MIN_SEVERITY", defaults.contain_min_severity)?;
        let notify = number(&get, "FIREBREAK_NOTIFY_MIN_SEVERITY", defaults.notify_min_severity)?;
        if notify > contain {
            return Err(Error::config(
                "FIREBREAK_NOTIFY_MIN_SEVERITY",
                format!("{notify} is above FIREBREAK_CONTAIN_MIN_SEVERITY ({contain}): contained findings would go unnotified"),
            ));
        }
        let member_role_name = get("FIREBREAK_MEMBER_ROLE_NAME").unwrap_or_else(|| "firebreak-member".to_owned());
        if !member_role_name.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c))
            || member_role_name.len() > 64
        {
            return Err(Error::config(
                "FIREBREAK_MEMBER_ROLE_NAME",
                format!("{member_role_name:?} is not an IAM role name"),
            ));
        }
        let world_open_share = match get("FIREBREAK_WORLD_OPEN_SHARE") {
            None => defaults.world_open_share,
            Some(v) => v.parse::<f64>().ok().filter(|x| *x > 0.0 && *x <= 1.0).ok_or_else(|| {
                Error::config("FIREBREAK_WORLD_OPEN_SHARE", format!("{v:?} is not a share above 0 and at most 1"))
            })?,
        };
        let ingress_window_seconds = match get("FIREBREAK_INGRESS_WINDOW_SECONDS") {
            None => defaults.ingress_window_seconds,
            Some(v) => v.parse::<u64>().ok().filter(|s| *s <= 7 * 24 * 60 * 60).ok_or_else(|| {
                Error::config(
                    "FIREBREAK_INGRESS_WINDOW_SECONDS",
                    format!("{v:?} is not a whole number of seconds from 0 to 604800 (a week)"),
                )
            })?,
        };
        let approval = approval_policy(&get, contain, notify)?;
        let (preference, account_preferences) = preferences(&get)?;
        let policy = Policy {
            preference,
            account_preferences,
            approval,
            world_open_share,
            ingress_window_seconds,
            member_role_name: member_role_name.clone(),
            contain_min_severity: contain,
            notify_min_severity: notify,
            idle_alarm_pattern: get("FIREBREAK_IDLE_ALARM_PATTERN"),
            idle_alarm_prefix: match get("FIREBREAK_IDLE_ALARM_PREFIX") {
                None => defaults.idle_alarm_prefix,
                Some(p) if p.trim().is_empty() => {
                    return Err(Error::config(
                        "FIREBREAK_IDLE_ALARM_PREFIX",
                        "must not be empty: it keeps an alarm anyone may create from stopping instances",
                    ))
                }
                Some(p) => p.trim().to_owned(),
            },
            idle_metrics: match get("FIREBREAK_IDLE_METRICS") {
                Some(list) => list.split(',').map(|m| m.trim().to_owned()).filter(|m| !m.is_empty()).collect(),
                None => defaults.idle_metrics,
            },
            allowed_public_ports: match get("FIREBREAK_ALLOWED_PUBLIC_PORTS") {
                Some(list) => ports(&list)?,
                None => defaults.allowed_public_ports,
            },
            revoke_public_ingress: flag(&get, "FIREBREAK_REVOKE_PUBLIC_INGRESS", defaults.revoke_public_ingress)?,
            self_role_arns: get("FIREBREAK_SELF_ROLE_ARN")
                .map(|v| v.split(',').map(|a| a.trim().to_owned()).filter(|a| !a.is_empty()).collect())
                .unwrap_or_default(),
            deployment_role_arn: get("FIREBREAK_DEPLOYMENT_ROLE_ARN")
                .map(|a| a.trim().to_owned())
                .filter(|a| !a.is_empty()),
            notify_resolved: flag(&get, "FIREBREAK_NOTIFY_RESOLVED", defaults.notify_resolved)?,
            fleet_alarm_summary: flag(&get, "FIREBREAK_FLEET_ALARM_SUMMARY", defaults.fleet_alarm_summary)?,
            ecs_stop_task: flag(&get, "FIREBREAK_ECS_STOP_TASK", defaults.ecs_stop_task)?,
            contain_on_credential_exfiltration: flag(
                &get,
                "FIREBREAK_CONTAIN_ON_CREDENTIAL_EXFILTRATION",
                defaults.contain_on_credential_exfiltration,
            )?,
            deactivate_user_keys: flag(&get, "FIREBREAK_DEACTIVATE_USER_KEYS", defaults.deactivate_user_keys)?,
            revoke_role_sessions: flag(&get, "FIREBREAK_REVOKE_ROLE_SESSIONS", defaults.revoke_role_sessions)?,
            block_domains: flag(&get, "FIREBREAK_BLOCK_DOMAINS", defaults.block_domains)?,
            scan_for_malware: flag(&get, "FIREBREAK_MALWARE_SCAN", defaults.scan_for_malware)?,
            security_hub_write_back: match get("FIREBREAK_SECURITY_HUB_WRITE_BACK") {
                None => defaults.security_hub_write_back,
                Some(v) => crate::policy::SecurityHubWriteBack::parse(&v).ok_or_else(|| {
                    Error::config(
                        "FIREBREAK_SECURITY_HUB_WRITE_BACK",
                        format!("{v:?} is not one of off, delivered, ocsf, asff"),
                    )
                })?,
            },
            accounts: list(
                &get,
                "FIREBREAK_ACCOUNTS",
                |a| crate::incident::AccountId::parse(a).is_some(),
                "a 12-digit account id",
            )?,
            regions: list(
                &get,
                "FIREBREAK_REGIONS",
                |r| crate::incident::Region::parse(r).is_some(),
                "a region code such as eu-west-1",
            )?,
        };
        let topic_arn = get("FIREBREAK_TOPIC_ARN");
        if let Some(arn) = &topic_arn {
            if !arn.starts_with("arn:") || arn.split(':').count() != 6 || !arn.contains(":sns:") {
                return Err(Error::config("FIREBREAK_TOPIC_ARN", format!("{arn:?} is not an SNS topic ARN")));
            }
        }
        let settle = match get("FIREBREAK_SETTLE_SECONDS") {
            Some(v) => match v.parse::<u64>() {
                Ok(s) if s <= 600 => Duration::from_secs(s),
                _ => {
                    return Err(Error::config(
                        "FIREBREAK_SETTLE_SECONDS",
                        format!("{v:?} is not a whole number of seconds from 0 to 600"),
                    ))
                }
            },
            None => Duration::from_secs(30),
        };
        let exempt_tag = get("FIREBREAK_EXEMPT_TAG").unwrap_or_else(|| "firebreak:exempt".to_owned());
        let state_table = get("FIREBREAK_STATE_TABLE");
        let hibernate = flag(&get, "FIREBREAK_HIBERNATE", true)?;
        let idle_require_tag = match get("FIREBREAK_IDLE_REQUIRE_TAG") {
            None => None,
            Some(pair) => match pair.split_once('=') {
                Some((k, v)) if !k.trim().is_empty() => Some((k.trim().to_owned(), v.trim().to_owned())),
                _ => return Err(Error::config("FIREBREAK_IDLE_REQUIRE_TAG", format!("{pair:?} is not key=value"))),
            },
        };
        let dry_run = flag(&get, "FIREBREAK_DRY_RUN", false)?;
        let revoke_instance_credentials = flag(&get, "FIREBREAK_REVOKE_INSTANCE_CREDENTIALS", true)?;
        let max_containments_per_hour = match get("FIREBREAK_MAX_CONTAINMENTS_PER_HOUR") {
            None => 5,
            Some(v) => v.parse::<u32>().ok().filter(|n| *n <= 10_000).ok_or_else(|| {
                Error::config(
                    "FIREBREAK_MAX_CONTAINMENTS_PER_HOUR",
                    format!("{v:?} is not a whole number from 0 to 10000"),
                )
            })?,
        };
        let containments_reserved_for_severe = match get("FIREBREAK_CONTAINMENTS_RESERVED_FOR_SEVERE") {
            None => 2,
            Some(v) => v.parse::<u32>().ok().filter(|n| *n <= 10_000).ok_or_else(|| {
                Error::config(
                    "FIREBREAK_CONTAINMENTS_RESERVED_FOR_SEVERE",
                    format!("{v:?} is not a whole number from 0 to 10000"),
                )
            })?,
        };
        let max_stops_per_hour = match get("FIREBREAK_MAX_STOPS_PER_HOUR") {
            None => 20,
            Some(v) => v.parse::<u32>().ok().filter(|n| *n <= 10_000).ok_or_else(|| {
                Error::config("FIREBREAK_MAX_STOPS_PER_HOUR", format!("{v:?} is not a whole number from 0 to 10000"))
            })?,
        };
        let max_blocked_domains_per_hour = match get("FIREBREAK_MAX_BLOCKED_DOMAINS_PER_HOUR") {
            None => 10,
            Some(v) => v.parse::<u32>().ok().filter(|n| *n <= 1_000).ok_or_else(|| {
                Error::config(
                    "FIREBREAK_MAX_BLOCKED_DOMAINS_PER_HOUR",
                    format!("{v:?} is not a whole number from 0 to 1000"),
                )
            })?,
        };
        // DNS Firewall takes priorities between 100 and 9900 (AssociateFirewallRuleGroup).
        let dns_firewall_priority = match get("FIREBREAK_DNS_FIREWALL_PRIORITY") {
            None => 101,
            Some(v) => v.parse::<i32>().ok().filter(|n| (101..=9899).contains(n)).ok_or_else(|| {
                Error::config(
                    "FIREBREAK_DNS_FIREWALL_PRIORITY",
                    format!("{v:?} is not a whole number from 101 to 9899"),
                )
            })?,
        };
        let chatbot = match get("FIREBREAK_CHAT_FORMAT").as_deref() {
            None | Some("none") => false,
            Some("chatbot") => true,
            Some(other) => {
                return Err(Error::config("FIREBREAK_CHAT_FORMAT", format!("{other:?} is not none or chatbot")))
            }
        };
        let member_external_id = get("FIREBREAK_MEMBER_EXTERNAL_ID");
        let approval_url = get("FIREBREAK_APPROVAL_URL");
        if let Some(url) = approval_url.as_deref().filter(|u| !u.starts_with("https://") && !u.starts_with("http://")) {
            return Err(Error::config("FIREBREAK_APPROVAL_URL", format!("{url:?} is not an http(s) URL")));
        }
        let secret_arn = |name: &str| match get(name) {
            Some(arn) if !arn.starts_with("arn:") || !arn.contains(":secretsmanager:") => {
                Err(Error::config(name, format!("{arn:?} is not a Secrets Manager ARN")))
            }
            other => Ok(other),
        };
        let approval_secret_arn = secret_arn("FIREBREAK_APPROVAL_SECRET_ARN")?;
        let state_key_secret_arn = secret_arn("FIREBREAK_STATE_KEY_SECRET_ARN")?;
        let idle_approval_secret_arn = secret_arn("FIREBREAK_IDLE_APPROVAL_SECRET_ARN")?;
        let approval_ttl = match get("FIREBREAK_APPROVAL_TTL_SECONDS") {
            None => DEFAULT_APPROVAL_TTL,
            Some(v) => {
                v.parse::<u64>().ok().filter(|s| (60..=7 * 24 * 3600).contains(s)).map(Duration::from_secs).ok_or_else(
                    || {
                        Error::config(
                            "FIREBREAK_APPROVAL_TTL_SECONDS",
                            format!("{v:?} is not a whole number of seconds from 60 to 604800"),
                        )
                    },
                )?
            }
        };
        Ok(Self {
            containment_function: get("FIREBREAK_CONTAINMENT_FUNCTION"),
            idle_stop_function: get("FIREBREAK_IDLE_STOP_FUNCTION"),
            idle_approval_secret_arn,
            approval_url,
            approval_secret_arn,
            state_key_secret_arn,
            approval_ttl,
            policy,
            topic_arn,
            settle,
            exempt_tag,
            state_table,
            hibernate,
            idle_require_tag,
            dry_run,
            revoke_instance_credentials,
            max_containments_per_hour,
            containments_reserved_for_severe,
            max_stops_per_hour,
            max_blocked_domains_per_hour,
            dns_firewall_priority,
            chatbot,
            member_role_name,
            member_external_id,
        })
    }

    /// The topic, for the commands that notify; missing is a start-up error, not a silent no-op.
    pub fn require_topic(&self) -> Result<&str> {
        self.topic_arn.as_deref().ok_or_else(|| Error::config("FIREBREAK_TOPIC_ARN", "required to send notifications"))
    }
}

impl Config {
    /// Where approval links point and the key that signs them, for a deployment whose policy asks for
    /// approval; missing is a start-up error, never a request nobody can answer.
    pub fn require_approval(&self) -> Result<Option<(&str, &str)>> {
        if !self.policy.asks_for_approval() {
            return Ok(None);
        }
        let url = self.approval_url.as_deref().ok_or_else(|| {
            Error::config("FIREBREAK_APPROVAL_URL", "required when a FIREBREAK_APPROVAL_* rule asks for approval")
        })?;
        let secret = self.approval_secret_arn.as_deref().ok_or_else(|| {
            Error::config(
                "FIREBREAK_APPROVAL_SECRET_ARN",
                "required when a FIREBREAK_APPROVAL_* rule asks for approval",
            )
        })?;
        Ok(Some((url, secret)))
    }

    /// The state table, for the commands that act; missing is a start-up error.
    pub fn require_state_table(&self) -> Result<&str> {
        self.state_table.as_deref().ok_or_else(|| {
            Error::config("FIREBREAK_STATE_TABLE", "required to act (the journal keeps effects exactly-once)")
        })
    }
}

fn number(get: &impl Fn(&str) -> Option<String>, name: &str, default: f64) -> Result<f64> {
    match get(name) {
        None => Ok(default),
        Some(v) => match v.parse::<f64>() {
            Ok(n) if (0.0..=10.0).contains(&n) => Ok(n),
            _ => Err(Error::config(name, format!("{v:?} is not a severity from 0 to 10"))),
        },
    }
}

/// The `FIREBREAK_APPROVAL_*` rules; the severity band must lie between notification and containment.
fn approval_policy(
    get: &impl Fn(&str) -> Option<String>,
    contain: f64,
    notify: f64,
) -> Result<crate::policy::ApprovalPolicy> {
    const BAND: &str = "FIREBREAK_APPROVAL_MIN_SEVERITY";
    let min_severity = match get(BAND) {
        None => None,
        Some(_) => {
            let n = number(get, BAND, contain)?;
            if n >= contain || n < notify {
                return Err(Error::config(
                    BAND,
                    format!(
                        "{n} must be at least FIREBREAK_NOTIFY_MIN_SEVERITY ({notify}) and below \
                         FIREBREAK_CONTAIN_MIN_SEVERITY ({contain})"
                    ),
                ));
            }
            Some(n)
        }
    };
    let sequence_instances = match get("FIREBREAK_APPROVAL_SEQUENCE_INSTANCES") {
        None => None,
        Some(v) => Some(v.parse::<usize>().map_err(|_| {
            Error::config("FIREBREAK_APPROVAL_SEQUENCE_INSTANCES", format!("{v:?} is not a whole number"))
        })?),
    };
    let on_expiry = match get("FIREBREAK_APPROVAL_ON_EXPIRY") {
        None => crate::policy::OnExpiry::default(),
        Some(v) => crate::policy::OnExpiry::parse(&v).ok_or_else(|| {
            Error::config("FIREBREAK_APPROVAL_ON_EXPIRY", format!("{v:?} is not one of ask-again, notify, contain"))
        })?,
    };
    Ok(crate::policy::ApprovalPolicy {
        on_expiry,
        min_severity,
        accounts: list(
            get,
            "FIREBREAK_APPROVAL_ACCOUNTS",
            |a| crate::incident::AccountId::parse(a).is_some(),
            "a 12-digit account id",
        )?,
        instances: list(
            get,
            "FIREBREAK_APPROVAL_INSTANCES",
            |i| crate::incident::InstanceId::parse(i).is_some(),
            "an instance id such as i-0abc1234def567890",
        )?,
        sequence_instances,
    })
}

fn flag(get: &impl Fn(&str) -> Option<String>, name: &str, default: bool) -> Result<bool> {
    match get(name).as_deref().map(str::to_ascii_lowercase).as_deref() {
        None => Ok(default),
        Some("true" | "1" | "yes" | "on") => Ok(true),
        Some("false" | "0" | "no" | "off") => Ok(false),
        Some(other) => Err(Error::config(name, format!("{other:?} is not true or false"))),
    }
}

/// The organisation's containment preference and the accounts' own (`account=preference,…`).
fn preferences(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<(crate::policy::ContainmentPreference, BTreeMap<String, crate::policy::ContainmentPreference>)> {
    use crate::policy::ContainmentPreference;
    const ORG: &str = "FIREBREAK_CONTAINMENT_PREFERENCE";
    const ACCOUNTS: &str = "FIREBREAK_CONTAINMENT_PREFERENCE_ACCOUNTS";
    let one_of = "one of approval-required, contain-confirmed, contain-suspected";
    let org = match get(ORG) {
        None => ContainmentPreference::default(),
        Some(v) => {
            ContainmentPreference::parse(&v).ok_or_else(|| Error::config(ORG, format!("{v:?} is not {one_of}")))?
        }
    };
    let mut accounts = BTreeMap::new();
    for entry in get(ACCOUNTS).unwrap_or_default().split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let parsed = entry.split_once('=').and_then(|(account, preference)| {
            let account = crate::incident::AccountId::parse(account.trim())?;
            Some((account.as_str().to_owned(), ContainmentPreference::parse(preference.trim())?))
        });
        let (account, preference) = parsed.ok_or_else(|| {
            Error::config(ACCOUNTS, format!("{entry:?} is not ACCOUNT=PREFERENCE with a 12-digit account and {one_of}"))
        })?;
        accounts.insert(account, preference);
    }
    Ok((org, accounts))
}

fn list(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    valid: impl Fn(&str) -> bool,
    what: &str,
) -> Result<Vec<String>> {
    let Some(raw) = get(name) else { return Ok(Vec::new()) };
    raw.split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| if valid(v) { Ok(v.to_owned()) } else { Err(Error::config(name, format!("{v:?} is not {what}"))) })
        .collect()
}

fn ports(list: &str) -> Result<Vec<u16>> {
    list.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| Error::config("FIREBREAK_ALLOWED_PUBLIC_PORTS", format!("{p:?} is not a port number")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Result<Config> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let c = config(&[]).expect("defaults are valid");
        assert_eq!(c.policy, Policy::default());
        assert_eq!(c.settle, Duration::from_secs(30));
        assert_eq!(c.exempt_tag, "firebreak:exempt");
        assert!(c.require_topic().is_err());
    }

    #[test]
    fn a_wrong_value_is_an_error_naming_the_variable() {
        for (name, value) in [
            ("FIREBREAK_CONTAIN_MIN_SEVERITY", "high"),
            ("FIREBREAK_CONTAIN_MIN_SEVERITY", "11"),
            ("FIREBREAK_ALLOWED_PUBLIC_PORTS", "80,https"),
            ("FIREBREAK_REVOKE_PUBLIC_INGRESS", "maybe"),
            ("FIREBREAK_SETTLE_SECONDS", "-1"),
            ("FIREBREAK_INGRESS_WINDOW_SECONDS", "a day"),
            ("FIREBREAK_APPROVAL_ON_EXPIRY", "approve"),
            ("FIREBREAK_SECURITY_HUB_WRITE_BACK", "always"),
            ("FIREBREAK_CONTAINMENT_PREFERENCE", "contain-everything"),
            ("FIREBREAK_CONTAINMENT_PREFERENCE_ACCOUNTS", "123456789012:contain-suspected"),
            ("FIREBREAK_IDLE_REQUIRE_TAG", "no-equals-sign"),
            ("FIREBREAK_HIBERNATE", "sometimes"),
            ("FIREBREAK_ACCOUNTS", "123456789012,prod"),
            ("FIREBREAK_REGIONS", "Europe (Ireland)"),
            ("FIREBREAK_MAX_CONTAINMENTS_PER_HOUR", "-3"),
            ("FIREBREAK_DRY_RUN", "perhaps"),
            ("FIREBREAK_CHAT_FORMAT", "slack"),
            ("FIREBREAK_MEMBER_ROLE_NAME", "role with spaces"),
            ("FIREBREAK_TOPIC_ARN", "my-topic"),
        ] {
            let err = config(&[(name, value)]).expect_err(value).to_string();
            assert!(err.contains(name), "{err}");
        }
    }

    #[test]
    fn notify_threshold_above_containment_threshold_is_refused() {
        let err = config(&[("FIREBREAK_NOTIFY_MIN_SEVERITY", "8"), ("FIREBREAK_CONTAIN_MIN_SEVERITY", "7")])
            .expect_err("refused");
        assert!(err.to_string().contains("FIREBREAK_NOTIFY_MIN_SEVERITY"));
    }

    #[test]
    fn lists_are_parsed() {
        let c = config(&[("FIREBREAK_ALLOWED_PUBLIC_PORTS", "443, 8443"), ("FIREBREAK_SETTLE_SECONDS", "0")])
            .expect("valid");
        assert_eq!(c.policy.allowed_public_ports, vec![443, 8443]);
        assert_eq!(c.settle, Duration::ZERO);
    }
}
