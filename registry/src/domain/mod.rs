//! Domain newtypes that validate on parse: once a value has one of these types, it is well-formed.

pub mod aadhaar;
pub mod contact;
pub mod handle;
pub mod health_id;
pub mod ids;
pub mod person;

pub use aadhaar::{Aadhaar, AadhaarHasher};
pub use contact::{Mobile, Pincode};
pub use handle::Handle;
pub use health_id::HealthIdNumber;
pub use ids::{FacilityId, ProviderId};
pub use person::{DateOfBirth, Gender};
