//! Postal addresses as requests send them and responses show them, with their checks.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::Pincode;
use crate::error::Violations;
use crate::text::{optional_text, required_text};

#[derive(Deserialize, ToSchema, Default, Debug)]
pub struct AddressInput {
    pub line: Option<String>,
    pub district: Option<String>,
    pub state: Option<String>,
    pub pincode: Option<String>,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct Address {
    pub line: Option<String>,
    pub district: Option<String>,
    pub state: String,
    pub pincode: String,
}

/// An address whose fields passed their checks.
pub struct ValidAddress {
    pub line: Option<String>,
    pub district: Option<String>,
    pub state: String,
    pub pincode: Pincode,
}

impl AddressInput {
    /// Checks every field, recording violations under `address.*`; `None` when anything is wrong.
    pub fn check(input: Option<Self>, v: &mut Violations) -> Option<ValidAddress> {
        Self::check_named(input, "address", v)
    }

    /// Like `check`, for an address field of another name (violations under `name.*`).
    pub fn check_named(input: Option<Self>, name: &str, v: &mut Violations) -> Option<ValidAddress> {
        let Some(address) = input else {
            v.add(name, "is required, with at least state and pincode");
            return None;
        };
        let line = v.check(&format!("{name}.line"), optional_text(address.line.as_deref(), 200)).flatten();
        let district = v.check(&format!("{name}.district"), optional_text(address.district.as_deref(), 100)).flatten();
        let state = v.check(&format!("{name}.state"), required_text(address.state.as_deref(), 2, 100));
        let pincode = match address.pincode.as_deref() {
            Some(p) => v.check(&format!("{name}.pincode"), Pincode::parse(p)),
            None => v.check(&format!("{name}.pincode"), Err("is required")),
        };
        Some(ValidAddress { line, district, state: state?, pincode: pincode? })
    }
}
