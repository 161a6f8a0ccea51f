//! facilities tests (being written).
