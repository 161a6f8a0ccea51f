//! The user-chosen part of a health address (`handle@vaidya`).

use rand::Rng;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handle(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a handle is 4 to 32 of a-z, 0-9, '.' and '_', and does not start with a digit or '.'")]
pub struct HandleError;

impl Handle {
    pub fn parse(input: &str) -> Result<Self, HandleError> {
        let s = input.trim().to_ascii_lowercase();
        let valid = (4..=32).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_')
            && !s.starts_with(|c: char| c.is_ascii_digit() || c == '.');
        if valid { Ok(Self(s)) } else { Err(HandleError) }
    }

    /// A handle made from a person's name and four random digits, for those who choose none.
    pub fn suggest(name: &str) -> Self {
        let base: String = name
            .to_ascii_lowercase()
            .split_whitespace()
            .map(|w| w.chars().filter(char::is_ascii_lowercase).collect::<String>())
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join(".");
        let base: String = base.chars().take(20).collect();
        let base = if base.len() < 2 { "user".to_owned() } else { base.trim_end_matches('.').to_owned() };
        let n: u16 = rand::thread_rng().gen_range(1000..10000);
        Self(format!("{base}{n}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Takes the handle out of `handle@suffix` when the suffix is ours.
    pub fn from_address(address: &str, suffix: &str) -> Option<Self> {
        let (handle, domain) = address.rsplit_once('@')?;
        if domain.eq_ignore_ascii_case(suffix) { Self::parse(handle).ok() } else { None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles() {
        assert_eq!(Handle::parse("Ravi.Kumar_1").unwrap().as_str(), "ravi.kumar_1");
        for bad in ["abc", "1ravi", ".ravi", "ravi-kumar", "r@vi", &"a".repeat(33)] {
            assert!(Handle::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn suggestions_are_valid() {
        for name in ["Ravi Kumar", "अनिल", "A", "Mary-Jane O'Neil the Third of Bengaluru"] {
            let h = Handle::suggest(name);
            assert!(Handle::parse(h.as_str()).is_ok(), "{h:?}");
        }
    }

    #[test]
    fn address_suffix() {
        assert_eq!(Handle::from_address("ravi.k@vaidya", "vaidya").unwrap().as_str(), "ravi.k");
        assert!(Handle::from_address("ravi.k@abdm", "vaidya").is_none());
    }
}
