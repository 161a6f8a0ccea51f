//! Checks for free-text fields: trimmed, bounded in length, no control characters.

/// A required text field of `min..=max` characters after trimming.
pub fn required_text(value: Option<&str>, min: usize, max: usize) -> Result<String, String> {
    bounded(value, min, max, false)
}

/// Like `required_text`, for prose such as clinical notes: line breaks and tabs are kept.
pub fn required_prose(value: Option<&str>, min: usize, max: usize) -> Result<String, String> {
    bounded(value, min, max, true)
}

/// Like `optional_text`, for prose.
pub fn optional_prose(value: Option<&str>, max: usize) -> Result<Option<String>, String> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => required_prose(Some(v), 1, max).map(Some),
    }
}

fn bounded(value: Option<&str>, min: usize, max: usize, prose: bool) -> Result<String, String> {
    let Some(value) = value else { return Err("is required".into()) };
    let trimmed = value.trim();
    let n = trimmed.chars().count();
    if n < min {
        Err(if min <= 1 { "must not be empty".into() } else { format!("must have at least {min} characters") })
    } else if n > max {
        Err(format!("must have at most {max} characters"))
    } else if trimmed.chars().any(|c| c.is_control() && !(prose && matches!(c, '\n' | '\r' | '\t'))) {
        Err("must not contain control characters".into())
    } else {
        Ok(trimmed.to_owned())
    }
}

/// An optional text field of at most `max` characters; empty counts as absent.
pub fn optional_text(value: Option<&str>, max: usize) -> Result<Option<String>, String> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => required_text(Some(v), 1, max).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_rules() {
        assert_eq!(required_text(Some("  Asha "), 1, 10).unwrap(), "Asha");
        assert!(required_text(None, 1, 10).is_err());
        assert!(required_text(Some("   "), 1, 10).is_err());
        assert!(required_text(Some("a\u{0}b"), 1, 10).is_err());
        assert!(required_text(Some(&"x".repeat(11)), 1, 10).is_err());
        assert_eq!(optional_text(Some(""), 5).unwrap(), None);
        assert!(required_text(Some("a\nb"), 1, 10).is_err());
        assert_eq!(required_prose(Some("a\nb\tc "), 1, 10).unwrap(), "a\nb\tc");
        assert!(required_prose(Some("a\u{7}b"), 1, 10).is_err());
        assert_eq!(optional_prose(Some("  "), 5).unwrap(), None);
    }
}
