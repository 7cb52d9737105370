//! CIDR blocks as EC2 reads them, not as strings: `0::/0`, `::0/0` and `10.20.30.40/0` are all the
//! whole internet, and so are `0.0.0.0/1` and `128.0.0.0/1` together.

use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    fn bits(self) -> u32 {
        match self {
            Self::V4 => 32,
            Self::V6 => 128,
        }
    }
}

/// One block: its family and the first and last address of the range (host bits ignored, as EC2
/// canonicalises them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub family: Family,
    first: u128,
    last: u128,
}

impl Cidr {
    pub fn parse(text: &str) -> Option<Self> {
        let (address, prefix) = text.trim().split_once('/')?;
        let prefix: u32 = prefix.parse().ok()?;
        let (family, value) = match address.parse::<IpAddr>().ok()? {
            IpAddr::V4(a) => (Family::V4, u128::from(u32::from(a))),
            IpAddr::V6(a) => (Family::V6, u128::from(a)),
        };
        let bits = family.bits();
        if prefix > bits {
            return None;
        }
        let host_bits = bits - prefix;
        let host_mask = if host_bits == 128 { u128::MAX } else { (1u128 << host_bits) - 1 };
        let first = value & !host_mask;
        Some(Self { family, first, last: first | host_mask })
    }

    pub fn is_everything(&self) -> bool {
        share_covered(&[*self], self.family) >= 1.0
    }
}

/// The share (0 to 1) of the family's address space that the blocks of that family cover together.
pub fn share_covered(blocks: &[Cidr], family: Family) -> f64 {
    let mut ranges: Vec<(u128, u128)> =
        blocks.iter().filter(|b| b.family == family).map(|b| (b.first, b.last)).collect();
    ranges.sort_unstable();
    let mut covered = 0f64;
    let mut current: Option<(u128, u128)> = None;
    for (first, last) in ranges {
        current = match current {
            Some((a, b)) if first <= b.saturating_add(1) => Some((a, b.max(last))),
            Some((a, b)) => {
                covered += (b - a) as f64 + 1.0;
                Some((first, last))
            }
            None => Some((first, last)),
        };
    }
    if let Some((a, b)) = current {
        covered += (b - a) as f64 + 1.0;
    }
    covered / 2f64.powi(family.bits() as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidrs(list: &[&str]) -> Vec<Cidr> {
        list.iter().map(|c| Cidr::parse(c).unwrap_or_else(|| panic!("{c}"))).collect()
    }

    #[test]
    fn every_spelling_of_the_whole_internet_is_the_whole_internet() {
        for world in ["0.0.0.0/0", "10.20.30.40/0", "::/0", "0::/0", "::0/0", "2001:db8::1/0"] {
            assert!(Cidr::parse(world).is_some_and(|c| c.is_everything()), "{world}");
        }
        for narrow in ["0.0.0.0/1", "10.0.0.0/8", "203.0.113.7/32", "::/1", "2001:db8::/32"] {
            assert!(!Cidr::parse(narrow).is_some_and(|c| c.is_everything()), "{narrow}");
        }
    }

    #[test]
    fn ranges_that_together_cover_a_family_cover_it() {
        assert_eq!(share_covered(&cidrs(&["0.0.0.0/1", "128.0.0.0/1"]), Family::V4), 1.0);
        assert_eq!(share_covered(&cidrs(&["::/1", "8000::/1"]), Family::V6), 1.0);
        assert_eq!(share_covered(&cidrs(&["0.0.0.0/1", "0.0.0.0/2"]), Family::V4), 0.5, "overlaps count once");
        assert_eq!(share_covered(&cidrs(&["0.0.0.0/1", "::/0"]), Family::V4), 0.5, "per family");
    }

    #[test]
    fn what_ec2_would_refuse_is_not_a_block() {
        for bad in ["0.0.0.0/33", "::/129", "0.0.0.0", "300.0.0.0/8", "sg-0123/0", ""] {
            assert!(Cidr::parse(bad).is_none(), "{bad}");
        }
    }
}
