//! Registry identifiers: facility ids (`IN` + 10 digits) and professional ids (14 digits).

use rand::Rng;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FacilityId(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a facility id is IN followed by 10 digits")]
pub struct FacilityIdError;

impl FacilityId {
    pub fn parse(input: &str) -> Result<Self, FacilityIdError> {
        let s = input.trim();
        let valid = s.len() == 12 && s.starts_with("IN") && s[2..].bytes().all(|b| b.is_ascii_digit());
        if valid { Ok(Self(s.to_owned())) } else { Err(FacilityIdError) }
    }

    pub fn generate() -> Self {
        let n: u64 = rand::thread_rng().gen_range(1_000_000_000..10_000_000_000);
        Self(format!("IN{n}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ProviderId(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a professional id has 14 digits")]
pub struct ProviderIdError;

impl ProviderId {
    pub fn parse(input: &str) -> Result<Self, ProviderIdError> {
        let s = input.trim();
        let valid = s.len() == 14 && s.bytes().all(|b| b.is_ascii_digit());
        if valid { Ok(Self(s.to_owned())) } else { Err(ProviderIdError) }
    }

    pub fn generate() -> Self {
        let n: u64 = rand::thread_rng().gen_range(10_000_000_000_000..100_000_000_000_000);
        Self(n.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facility_ids() {
        let id = FacilityId::generate();
        assert_eq!(FacilityId::parse(id.as_str()), Ok(id));
        for bad in ["IN123", "XX1234567890", "IN12345678901", "in1234567890"] {
            assert!(FacilityId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn provider_ids() {
        let id = ProviderId::generate();
        assert_eq!(ProviderId::parse(id.as_str()), Ok(id));
        assert!(ProviderId::parse("1234").is_err());
    }
}
