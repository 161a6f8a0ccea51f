//! The consent manager in ABDM's shape: a doctor requests access to a patient's records for a purpose, HI types and a
//! date range; the patient grants (possibly narrower), denies or later revokes; consents expire by themselves.

pub mod artefact;
pub mod check;
pub mod consents;
pub mod requests;

use crate::enums::wire_enum;

wire_enum!(
    /// ABDM purposes of use.
    Purpose {
        CareManagement = "CAREMGT",
        BreakTheGlass = "BTG",
        PublicHealth = "PUBHLTH",
        Payment = "HPAYMT",
        DiseaseResearch = "DSRCH",
        PatientRequested = "PATRQT",
    }
);

impl Purpose {
    pub fn text(self) -> &'static str {
        match self {
            Self::CareManagement => "Care Management",
            Self::BreakTheGlass => "Break the Glass",
            Self::PublicHealth => "Public Health",
            Self::Payment => "Healthcare Payment",
            Self::DiseaseResearch => "Disease Specific Healthcare Research",
            Self::PatientRequested => "Self Requested",
        }
    }
}

wire_enum!(
    /// ABDM health information types.
    HiType {
        OpConsultation = "OPConsultation",
        Prescription = "Prescription",
        DiagnosticReport = "DiagnosticReport",
        DischargeSummary = "DischargeSummary",
        ImmunizationRecord = "ImmunizationRecord",
        HealthDocumentRecord = "HealthDocumentRecord",
        WellnessRecord = "WellnessRecord",
    }
);

impl HiType {
    /// One bit per type, so a set of types is a mask the database can test with `&`.
    pub fn bit(self) -> i64 {
        1 << Self::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }
}

/// A set of HI types stored as a bit mask.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HiTypes(pub i64);

impl HiTypes {
    pub fn all() -> Self {
        Self(HiType::ALL.iter().map(|t| t.bit()).sum())
    }

    /// Parses a non-empty list of type names.
    pub fn parse(names: &[String]) -> Result<Self, String> {
        if names.is_empty() {
            return Err("must name at least one HI type".into());
        }
        let mut mask = 0;
        for name in names {
            let t = HiType::check(Some(name))?;
            mask |= t.bit();
        }
        Ok(Self(mask))
    }

    pub fn names(self) -> Vec<&'static str> {
        HiType::ALL.iter().filter(|t| self.0 & t.bit() != 0).map(|t| t.as_str()).collect()
    }

    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hi_type_sets() {
        let set = HiTypes::parse(&["Prescription".into(), "OPConsultation".into(), "Prescription".into()]).unwrap();
        assert_eq!(set.names(), ["OPConsultation", "Prescription"]);
        assert!(HiTypes::all().contains(set));
        assert!(!set.contains(HiTypes::all()));
        assert!(HiTypes::parse(&[]).is_err());
        assert!(HiTypes::parse(&["XRay".into()]).unwrap_err().contains("OPConsultation"));
        assert_eq!(HiTypes::all().names().len(), 7);
    }
}
