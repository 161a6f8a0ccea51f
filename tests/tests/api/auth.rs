//! auth tests (being written).
