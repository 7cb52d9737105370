//! Which domain names a finding may get blocked in a VPC's DNS: a name that is not a public suffix
//! (blocking `co.uk` would cut a VPC off from a country) and not one of AWS's own service domains
//! (blocking them would cut the VPC off from AWS itself, Firebreak included).

/// The domains under which AWS serves its APIs, consoles and certificates: never blocked, nor any name
/// under them.
pub const AWS_SERVICE_DOMAINS: [&str; 8] =
    ["amazonaws.com", "amazonaws.com.cn", "amazon.com", "amazontrust.com", "aws", "aws.dev", "api.aws", "on.aws"];

/// The longest name DNS carries (RFC 1035: 255 octets on the wire, 253 as text).
const MAX_NAME: usize = 253;

/// The finding's domain as DNS Firewall is to block it (lower case, no trailing dot), or why it must
/// not be blocked.
pub fn blockable(raw: &str) -> Result<String, String> {
    let domain = raw.trim().trim_end_matches('.').to_ascii_lowercase();
    if domain.is_empty() || domain.len() > MAX_NAME {
        return Err(format!("{raw:?} is not a domain name"));
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let valid_label = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if !labels.iter().all(valid_label) {
        return Err(format!("{raw:?} is not a domain name (letters, digits and hyphens between dots only)"));
    }
    if labels.len() < 2 {
        return Err(format!("{domain} is a top-level domain: blocking it would cut the VPC off from all of it"));
    }
    if let Some(aws) = AWS_SERVICE_DOMAINS.iter().find(|d| domain == **d || domain.ends_with(&format!(".{d}"))) {
        return Err(format!(
            "{domain} is under {aws}, one of AWS's service domains: blocking it would cut the VPC off from AWS"
        ));
    }
    if psl::suffix_str(&domain) == Some(domain.as_str()) {
        return Err(format!(
            "{domain} is a public suffix (the Public Suffix List): blocking it would cut the VPC off from every \
             site under it"
        ));
    }
    Ok(domain)
}

/// What goes on the domain list for a blocked domain: the name and every name under it (a command and
/// control client or a tunnel asks for names under the domain it was given).
pub fn list_entries(domain: &str) -> [String; 2] {
    [domain.to_owned(), format!("*.{domain}")]
}

/// Whether `listed`, as a DNS Firewall list answers it, is the name `entry`: as DNS compares names, case
/// aside and with or without the trailing dot (the list answers `example.com.` for `example.com`).
pub fn same_name(listed: &str, entry: &str) -> bool {
    listed.strip_suffix('.').unwrap_or(listed).eq_ignore_ascii_case(entry.strip_suffix('.').unwrap_or(entry))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finding_domain_is_blocked_as_named_with_its_subdomains() {
        assert_eq!(blockable("C2.Evil-Example.net.").as_deref(), Ok("c2.evil-example.net"));
        assert_eq!(list_entries("c2.evil-example.net"), ["c2.evil-example.net", "*.c2.evil-example.net"]);
        assert_eq!(blockable("evil.co.uk").as_deref(), Ok("evil.co.uk"));
    }

    #[test]
    fn a_listed_name_is_compared_as_dns_compares_names() {
        assert!(same_name("example.com.", "example.com"));
        assert!(same_name("*.Example.COM.", "*.example.com"));
        assert!(same_name("example.com", "example.com."));
        assert!(!same_name("example.com.", "*.example.com"));
        assert!(!same_name("evil-example.com.", "example.com"));
        assert!(!same_name("example.com..", "example.com"));
    }

    #[test]
    fn public_suffixes_aws_service_domains_and_malformed_names_are_never_blocked() {
        for (domain, why) in [
            ("com", "top-level domain"),
            ("co.uk", "public suffix"),
            ("github.io", "public suffix"),
            ("amazonaws.com", "AWS's service domains"),
            ("s3.us-east-1.amazonaws.com", "AWS's service domains"),
            ("guardduty.us-east-1.amazonaws.com", "AWS's service domains"),
            ("console.aws.amazon.com", "AWS's service domains"),
            ("*.evil.net", "not a domain name"),
            ("evil..net", "not a domain name"),
            ("-evil.net", "not a domain name"),
            ("evil.net/x", "not a domain name"),
            ("", "not a domain name"),
        ] {
            let refused = blockable(domain).expect_err(domain);
            assert!(refused.contains(why), "{domain}: {refused}");
        }
        assert!(blockable(&format!("{}.net", "a".repeat(250))).is_err(), "longer than DNS carries");
    }
}
