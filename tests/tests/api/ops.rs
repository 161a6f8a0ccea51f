//! ops tests (being written).
