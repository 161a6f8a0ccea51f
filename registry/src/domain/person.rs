//! A person's gender and date of birth, and the age that follows from it.

use time::{Date, OffsetDateTime, macros::format_description};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gender {
    M,
    F,
    O,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("gender is one of M, F or O")]
pub struct GenderError;

impl Gender {
    pub fn parse(input: &str) -> Result<Self, GenderError> {
        match input {
            "M" => Ok(Self::M),
            "F" => Ok(Self::F),
            "O" => Ok(Self::O),
            _ => Err(GenderError),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::M => "M",
            Self::F => "F",
            Self::O => "O",
        }
    }
}

/// A date of birth that is real, not in the future and at most 130 years ago.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateOfBirth(Date);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DateOfBirthError {
    #[error("a date of birth is written YYYY-MM-DD")]
    Format,
    #[error("a date of birth cannot be in the future")]
    Future,
    #[error("a date of birth cannot be more than 130 years ago")]
    TooOld,
}

impl DateOfBirth {
    pub fn parse(input: &str) -> Result<Self, DateOfBirthError> {
        Self::parse_on(input, OffsetDateTime::now_utc().date())
    }

    pub fn parse_on(input: &str, today: Date) -> Result<Self, DateOfBirthError> {
        let date = Date::parse(input.trim(), format_description!("[year]-[month]-[day]")).map_err(|_| DateOfBirthError::Format)?;
        if date > today {
            return Err(DateOfBirthError::Future);
        }
        let dob = Self(date);
        if dob.age_on(today) > 130 {
            return Err(DateOfBirthError::TooOld);
        }
        Ok(dob)
    }

    /// Whole years completed on `today`.
    pub fn age_on(&self, today: Date) -> i32 {
        let mut age = today.year() - self.0.year();
        if (today.month() as u8, today.day()) < (self.0.month() as u8, self.0.day()) {
            age -= 1;
        }
        age
    }

    pub fn age(&self) -> i32 {
        self.age_on(OffsetDateTime::now_utc().date())
    }

    pub fn year(&self) -> i32 {
        self.0.year()
    }

    pub fn iso(&self) -> String {
        self.0.format(format_description!("[year]-[month]-[day]")).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn age_counts_birthdays() {
        let today = date!(2026 - 11 - 25);
        assert_eq!(DateOfBirth::parse_on("2008-11-25", today).unwrap().age_on(today), 18);
        assert_eq!(DateOfBirth::parse_on("2008-11-26", today).unwrap().age_on(today), 17);
    }

    #[test]
    fn rejects_impossible_dates() {
        let today = date!(2026 - 11 - 25);
        assert_eq!(DateOfBirth::parse_on("2027-01-01", today), Err(DateOfBirthError::Future));
        assert_eq!(DateOfBirth::parse_on("1850-01-01", today), Err(DateOfBirthError::TooOld));
        assert_eq!(DateOfBirth::parse_on("2001-02-30", today), Err(DateOfBirthError::Format));
        assert_eq!(DateOfBirth::parse_on("01/02/2001", today), Err(DateOfBirthError::Format));
    }
}
