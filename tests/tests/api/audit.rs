//! audit tests (being written).
