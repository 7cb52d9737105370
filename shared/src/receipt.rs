//! The receipt of a containment: each way out of the instance, read back after the steps, either
//! verified closed (at the time it was read) or named as open with why, in words a responder reads.
//! Persisted in incident records and shown in notifications: the channel and state names are a
//! contract, pinned below.

use serde::{Deserialize, Serialize};

/// A way out of a contained instance, or a way back into its harm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// A network interface attached to the instance: only its VPC's isolation group on it.
    NetworkInterface,
    /// The isolation group itself: no ingress and no egress rule.
    IsolationGroup,
    /// The role credentials EC2 issued to the instance: denied by Firebreak's policy on the role.
    RoleCredentials,
    /// The instance metadata service: off, so nothing on the instance fetches new credentials.
    MetadataService,
    /// Auto Scaling: in no group, so none replaces or terminates the instance.
    AutoScaling,
    /// Termination protection: on, so the evidence is not destroyed by accident.
    TerminationProtection,
    /// Amazon Time Sync at 169.254.169.123, a link-local address security groups do not filter.
    TimeSync,
    /// DNS queries through the VPC's Route 53 Resolver, which security groups and network ACLs cannot
    /// block: a way to send data out one query at a time.
    Dns,
    /// What already left: credentials of other systems read on the instance, sessions it opened
    /// elsewhere, data sent before the cut.
    OutsideAws,
}

impl Channel {
    /// The persisted name (incident records, the notification's JSON).
    pub fn name(self) -> &'static str {
        match self {
            Self::NetworkInterface => "network_interface",
            Self::IsolationGroup => "isolation_group",
            Self::RoleCredentials => "role_credentials",
            Self::MetadataService => "metadata_service",
            Self::AutoScaling => "auto_scaling",
            Self::TerminationProtection => "termination_protection",
            Self::TimeSync => "time_sync",
            Self::Dns => "dns",
            Self::OutsideAws => "outside_aws",
        }
    }

    /// What a person reads.
    pub fn human_name(self) -> &'static str {
        match self {
            Self::NetworkInterface => "network interface",
            Self::IsolationGroup => "isolation group",
            Self::RoleCredentials => "role credentials",
            Self::MetadataService => "metadata service",
            Self::AutoScaling => "Auto Scaling",
            Self::TerminationProtection => "termination protection",
            Self::TimeSync => "Amazon Time Sync",
            Self::Dns => "DNS",
            Self::OutsideAws => "outside AWS",
        }
    }

    /// Whether Firebreak can close the channel at all; the others are always named as open.
    pub fn closable(self) -> bool {
        !matches!(self, Self::TimeSync | Self::Dns | Self::OutsideAws)
    }
}

/// What the read-back found of a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelState {
    /// Closed when read back.
    Verified,
    /// Found open, repaired, and closed when read back again.
    Repaired,
    /// Open: Firebreak cannot close it, or could not.
    Open,
    /// Left open on purpose, and said why: an exempt role, a deployment without the grant.
    Waived,
}

impl ChannelState {
    pub fn name(self) -> &'static str {
        match self {
            Self::Verified => "verified",
            Self::Repaired => "repaired",
            Self::Open => "open",
            Self::Waived => "waived",
        }
    }
}

/// One channel of one instance, as read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelCheck {
    pub channel: Channel,
    pub state: ChannelState,
    /// The interface, group or role the check is about, when the channel has several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    pub detail: String,
}

/// Every channel of one contained instance, and when it was read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub instance: String,
    /// When the (last) read-back was answered, RFC 3339.
    pub read_at: String,
    pub channels: Vec<ChannelCheck>,
}

/// The channels nobody can close from the control plane, named in every receipt. `dns` is the DNS
/// channel's text: a blocked domain or none known.
pub fn unclosable(dns: String) -> Vec<ChannelCheck> {
    let open = |channel, detail: &str| ChannelCheck {
        channel,
        state: ChannelState::Open,
        target: None,
        detail: detail.to_owned(),
    };
    vec![
        open(
            Channel::TimeSync,
            "Amazon Time Sync (169.254.169.123) answers every instance: security groups do not filter \
             link-local addresses; it carries time, not data, but it is reachable",
        ),
        ChannelCheck { channel: Channel::Dns, state: ChannelState::Open, target: None, detail: dns },
        open(
            Channel::OutsideAws,
            "what already left cannot be called back: rotate the secrets the instance held (database \
             passwords, API keys, SSH keys) and end sessions it opened elsewhere",
        ),
    ]
}

/// Why DNS stays open: the VPC's resolver, which nothing but DNS Firewall filters.
pub const DNS_RESOLVER: &str = "the VPC's Route 53 Resolver answers the instance's queries: security groups \
     and network ACLs cannot block it, so data can still leave one DNS query at a time";

/// Why DNS stays open when no domain is known to block.
pub const DNS_OPEN: &str = "the VPC's Route 53 Resolver answers the instance's queries: security groups \
     and network ACLs cannot block it, so data can still leave one DNS query at a time; no domain was named \
     by the finding to block";

impl ChannelCheck {
    /// What identifies the check within a receipt: its channel and target.
    pub fn key(&self) -> (Channel, Option<String>) {
        (self.channel, self.target.clone())
    }
}

impl Receipt {
    /// The channels Firebreak can close that were found open and stayed open.
    pub fn left_open(&self) -> Vec<&ChannelCheck> {
        self.channels.iter().filter(|c| c.channel.closable() && c.state == ChannelState::Open).collect()
    }

    /// The receipt as lines a person reads: a heading, then one line per channel.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = vec![format!("Receipt for {} (read back at {}):", self.instance, self.read_at)];
        for c in &self.channels {
            let state = match (c.state, c.channel.closable()) {
                (ChannelState::Verified, _) => "verified closed",
                (ChannelState::Repaired, _) => "found open, repaired, verified closed",
                (ChannelState::Open, true) => "OPEN (could not be closed)",
                (ChannelState::Open, false) => "open (Firebreak cannot close it)",
                (ChannelState::Waived, _) => "left open on purpose",
            };
            let target = c.target.as_deref().map(|t| format!(" {t}")).unwrap_or_default();
            lines.push(format!("- {}{target}: {state}: {}", c.channel.human_name(), c.detail));
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_persisted_channel_and_state_names_never_change() {
        let names: Vec<&str> = [
            Channel::NetworkInterface,
            Channel::IsolationGroup,
            Channel::RoleCredentials,
            Channel::MetadataService,
            Channel::AutoScaling,
            Channel::TerminationProtection,
            Channel::TimeSync,
            Channel::Dns,
            Channel::OutsideAws,
        ]
        .into_iter()
        .map(|c| {
            assert_eq!(serde_json::to_value(c).expect("json"), c.name(), "serde and name() agree");
            c.name()
        })
        .collect();
        assert_eq!(
            names,
            [
                "network_interface",
                "isolation_group",
                "role_credentials",
                "metadata_service",
                "auto_scaling",
                "termination_protection",
                "time_sync",
                "dns",
                "outside_aws"
            ]
        );
        for state in [ChannelState::Verified, ChannelState::Repaired, ChannelState::Open, ChannelState::Waived] {
            assert_eq!(serde_json::to_value(state).expect("json"), state.name());
        }
    }

    #[test]
    fn only_a_closable_channel_left_open_counts_against_the_receipt() {
        let check = |channel, state| ChannelCheck { channel, state, target: None, detail: "d".into() };
        let mut receipt = Receipt {
            instance: "i-0abc1234def567890".into(),
            read_at: "2026-12-03T18:00:00Z".into(),
            channels: unclosable(DNS_OPEN.into()),
        };
        receipt.channels.push(check(Channel::NetworkInterface, ChannelState::Repaired));
        assert!(receipt.left_open().is_empty(), "DNS, Time Sync and what left are named, not failures");
        receipt.channels.push(check(Channel::IsolationGroup, ChannelState::Open));
        assert_eq!(receipt.left_open().len(), 1);
        let text = receipt.lines().join("\n");
        assert!(text.starts_with("Receipt for i-0abc1234def567890 (read back at 2026-12-03T18:00:00Z):"), "{text}");
        assert!(text.contains("- isolation group: OPEN (could not be closed): d"), "{text}");
        assert!(text.contains("- DNS: open (Firebreak cannot close it): "), "{text}");
    }
}
