//! Indian mobile numbers and postal PIN codes.

use std::fmt;

/// A 10-digit Indian mobile number starting 6–9. A `+91` or `0` prefix is accepted and dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Mobile(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a mobile number has 10 digits and starts with 6, 7, 8 or 9")]
pub struct MobileError;

impl Mobile {
    pub fn parse(input: &str) -> Result<Self, MobileError> {
        let compact: String = input.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        let national = compact.strip_prefix("+91").or_else(|| compact.strip_prefix('0').filter(|s| s.len() == 10)).unwrap_or(&compact);
        let valid = national.len() == 10 && national.bytes().all(|b| b.is_ascii_digit()) && matches!(national.as_bytes()[0], b'6'..=b'9');
        if valid { Ok(Self(national.to_owned())) } else { Err(MobileError) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Mobile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mobile(******{})", &self.0[6..])
    }
}

/// A 6-digit postal PIN code; the first digit (the postal region) is 1–9.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pincode(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a PIN code has 6 digits and does not start with 0")]
pub struct PincodeError;

impl Pincode {
    pub fn parse(input: &str) -> Result<Self, PincodeError> {
        let s = input.trim();
        let valid = s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit()) && !s.starts_with('0');
        if valid { Ok(Self(s.to_owned())) } else { Err(PincodeError) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mobiles() {
        assert_eq!(Mobile::parse("9876543210").unwrap().as_str(), "9876543210");
        assert_eq!(Mobile::parse("+91 98765 43210").unwrap().as_str(), "9876543210");
        assert_eq!(Mobile::parse("09876543210").unwrap().as_str(), "9876543210");
        for bad in ["5876543210", "987654321", "98765432100", "98765x3210", ""] {
            assert!(Mobile::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pincodes() {
        assert!(Pincode::parse("560001").is_ok());
        for bad in ["060001", "56001", "5600011", "56OO01"] {
            assert!(Pincode::parse(bad).is_err(), "{bad}");
        }
    }
}
