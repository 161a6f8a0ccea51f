//! The 14-digit Health ID number (`XX-XXXX-XXXX-XXXX`) whose last digit is a Luhn check digit.

use std::fmt;

use rand::Rng;

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HealthIdNumber([u8; 14]);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HealthIdError {
    #[error("a Health ID number has 14 digits, as XX-XXXX-XXXX-XXXX")]
    Shape,
    #[error("the Health ID number's check digit is wrong")]
    CheckDigit,
}

impl HealthIdNumber {
    /// Accepts `91-1234-5678-9012` or `91123456789012`; dashes only in the canonical places.
    pub fn parse(input: &str) -> Result<Self, HealthIdError> {
        let input = input.trim();
        let digits: Vec<u8> = match input.len() {
            14 => input.bytes().collect(),
            17 => {
                let bytes = input.as_bytes();
                if [2, 7, 12].iter().any(|&i| bytes[i] != b'-') {
                    return Err(HealthIdError::Shape);
                }
                bytes.iter().enumerate().filter(|(i, _)| ![2, 7, 12].contains(i)).map(|(_, b)| *b).collect()
            }
            _ => return Err(HealthIdError::Shape),
        };
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(HealthIdError::Shape);
        }
        let mut out = [0u8; 14];
        for (slot, b) in out.iter_mut().zip(&digits) {
            *slot = b - b'0';
        }
        if luhn_check_digit(&out[..13]) != out[13] {
            return Err(HealthIdError::CheckDigit);
        }
        Ok(Self(out))
    }

    /// A fresh random number with a valid check digit; the first digit is never 0.
    pub fn generate() -> Self {
        let mut rng = rand::thread_rng();
        let mut out = [0u8; 14];
        out[0] = rng.gen_range(1..=9);
        for slot in &mut out[1..13] {
            *slot = rng.gen_range(0..=9);
        }
        out[13] = luhn_check_digit(&out[..13]);
        Self(out)
    }

    /// Shows stored digits in the dashed form; anything that is not a Health ID number is shown as it is.
    pub fn display_stored(digits: &str) -> String {
        Self::parse(digits).map(|h| h.to_string()).unwrap_or_else(|_| digits.to_owned())
    }

    /// The 14 digits without dashes, as stored.
    pub fn digits(&self) -> String {
        self.0.iter().map(|d| char::from(b'0' + d)).collect()
    }
}

/// The Luhn digit that makes `payload` followed by it pass the Luhn check.
pub fn luhn_check_digit(payload: &[u8]) -> u8 {
    let sum: u32 = payload
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 0 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

/// A number that fails its shape or check digit is 422 `invalid_health_id`, wherever it is given.
impl From<HealthIdError> for crate::error::ApiError {
    fn from(err: HealthIdError) -> Self {
        Self::unprocessable("invalid_health_id", err.to_string())
    }
}

impl fmt::Display for HealthIdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.digits();
        write!(f, "{}-{}-{}-{}", &s[0..2], &s[2..6], &s[6..10], &s[10..14])
    }
}

impl fmt::Debug for HealthIdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HealthIdNumber({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_matches_known_value() {
        // 7992739871 has Luhn check digit 3 (the textbook example).
        assert_eq!(luhn_check_digit(&[7, 9, 9, 2, 7, 3, 9, 8, 7, 1]), 3);
    }

    #[test]
    fn generated_numbers_round_trip() {
        for _ in 0..200 {
            let id = HealthIdNumber::generate();
            assert_eq!(HealthIdNumber::parse(&id.to_string()), Ok(id));
            assert_eq!(HealthIdNumber::parse(&id.digits()), Ok(id));
        }
    }

    #[test]
    fn wrong_check_digit_is_rejected() {
        let id = HealthIdNumber::generate().digits();
        let last = id.as_bytes()[13] - b'0';
        let bad = format!("{}{}", &id[..13], (last + 1) % 10);
        assert_eq!(HealthIdNumber::parse(&bad), Err(HealthIdError::CheckDigit));
    }

    #[test]
    fn malformed_shapes_are_rejected() {
        for bad in ["", "12", "91-1234-5678-901", "9a123456789012", "911-234-5678-9012", "91 1234 5678 9012", "٩١١٢٣٤٥٦٧٨٩٠١٢"]
        {
            assert_eq!(HealthIdNumber::parse(bad), Err(HealthIdError::Shape), "{bad}");
        }
    }
}
