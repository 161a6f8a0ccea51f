//! List pagination: `limit` (default 50, at most 200) and an opaque `cursor`; responses are `{items, next_cursor}`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult};

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

#[derive(Debug, Serialize, ToSchema)]
pub struct ListResponse<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Checks a `limit` parameter.
pub fn limit(value: Option<u32>) -> ApiResult<u32> {
    match value {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::field("limit", format!("limit is between 1 and {MAX_LIMIT}"))),
    }
}

/// Encodes the sort key of the last item returned.
pub fn encode_cursor(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key.as_bytes())
}

/// Decodes a cursor made by `encode_cursor`.
pub fn decode_cursor(cursor: Option<&str>) -> ApiResult<Option<String>> {
    cursor
        .map(|c| {
            URL_SAFE_NO_PAD
                .decode(c)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| ApiError::field("cursor", "the cursor is not one this service issued"))
        })
        .transpose()
}

/// Turns `limit + 1` fetched rows into a page: the extra row only says that more follow.
pub fn paginate<T>(mut rows: Vec<T>, limit: u32, key: impl Fn(&T) -> String) -> ListResponse<T> {
    let next_cursor = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|last| encode_cursor(&key(last)))
    } else {
        None
    };
    ListResponse { items: rows, next_cursor }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_cursors() {
        assert_eq!(limit(None).unwrap(), 50);
        assert!(limit(Some(0)).is_err());
        assert!(limit(Some(201)).is_err());
        let page = paginate(vec![1, 2, 3], 2, |n| n.to_string());
        assert_eq!(page.items, vec![1, 2]);
        assert_eq!(decode_cursor(page.next_cursor.as_deref()).unwrap().as_deref(), Some("2"));
        assert!(decode_cursor(Some("%%%")).is_err());
    }
}
