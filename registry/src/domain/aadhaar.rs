//! Aadhaar numbers: 12 digits with a Verhoeff check digit, kept only as a keyed hash and the last four digits.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::Sha256;

/// A validated Aadhaar number. It never implements `Display` or `Debug` in clear.
pub struct Aadhaar(SecretString);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AadhaarError {
    #[error("an Aadhaar number has 12 digits and does not start with 0 or 1")]
    Shape,
    #[error("the Aadhaar number's check digit is wrong")]
    CheckDigit,
}

impl Aadhaar {
    /// Accepts 12 digits, optionally grouped by spaces or dashes as printed on the card.
    pub fn parse(input: &str) -> Result<Self, AadhaarError> {
        let digits: String = input.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        if digits.len() != 12 || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.starts_with(['0', '1']) {
            return Err(AadhaarError::Shape);
        }
        if !verhoeff_valid(&digits) {
            return Err(AadhaarError::CheckDigit);
        }
        Ok(Self(SecretString::from(digits)))
    }

    pub fn last4(&self) -> String {
        self.0.expose_secret()[8..].to_owned()
    }
}

impl std::fmt::Debug for Aadhaar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Aadhaar(XXXX-XXXX-{})", self.last4())
    }
}

/// Computes the keyed hash stored in place of an Aadhaar number (HMAC-SHA256 under a server secret).
pub struct AadhaarHasher(SecretBox<Vec<u8>>);

impl AadhaarHasher {
    pub fn new(key: Vec<u8>) -> Self {
        Self(SecretBox::new(Box::new(key)))
    }

    pub fn hash(&self, aadhaar: &Aadhaar) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.0.expose_secret()).expect("HMAC takes any key length");
        mac.update(aadhaar.0.expose_secret().as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

const D: [[u8; 10]; 10] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
    [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
    [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
    [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
    [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
    [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
];

const P: [[u8; 10]; 8] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
    [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
    [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
    [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
    [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
    [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
];

const INV: [u8; 10] = [0, 4, 3, 2, 1, 5, 6, 7, 8, 9];

fn verhoeff_valid(digits: &str) -> bool {
    let mut c = 0u8;
    for (i, b) in digits.bytes().rev().enumerate() {
        c = D[c as usize][P[i % 8][(b - b'0') as usize] as usize];
    }
    c == 0
}

/// The Verhoeff digit to append to `payload`; used to make valid numbers in tests and demo data.
pub fn verhoeff_check_digit(payload: &str) -> char {
    let mut c = 0u8;
    for (i, b) in payload.bytes().rev().enumerate() {
        c = D[c as usize][P[(i + 1) % 8][(b - b'0') as usize] as usize];
    }
    char::from(b'0' + INV[c as usize])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verhoeff_known_value() {
        // 236 has Verhoeff check digit 3 (the textbook example).
        assert_eq!(verhoeff_check_digit("236"), '3');
        assert!(verhoeff_valid("2363"));
        assert!(!verhoeff_valid("2364"));
    }

    #[test]
    fn parse_accepts_valid_and_groups() {
        let payload = "23456789012";
        let full = format!("{payload}{}", verhoeff_check_digit(payload));
        let grouped = format!("{} {} {}", &full[..4], &full[4..8], &full[8..]);
        assert_eq!(Aadhaar::parse(&grouped).unwrap().last4(), &full[8..]);
    }

    #[test]
    fn parse_rejects_bad_check_digit_and_shape() {
        let payload = "23456789012";
        let good = verhoeff_check_digit(payload);
        let bad = if good == '9' { '0' } else { char::from(good as u8 + 1) };
        assert_eq!(Aadhaar::parse(&format!("{payload}{bad}")).unwrap_err(), AadhaarError::CheckDigit);
        assert_eq!(Aadhaar::parse("12345").unwrap_err(), AadhaarError::Shape);
        assert_eq!(Aadhaar::parse("023456789012").unwrap_err(), AadhaarError::Shape);
    }

    #[test]
    fn hash_is_keyed_and_stable() {
        let payload = "34567890123";
        let a = Aadhaar::parse(&format!("{payload}{}", verhoeff_check_digit(payload))).unwrap();
        let h1 = AadhaarHasher::new(b"k1".to_vec()).hash(&a);
        assert_eq!(h1, AadhaarHasher::new(b"k1".to_vec()).hash(&a));
        assert_ne!(h1, AadhaarHasher::new(b"k2".to_vec()).hash(&a));
        assert!(!h1.contains(&a.last4()) || h1.len() == 64);
        assert!(!format!("{a:?}").contains(payload));
    }
}
