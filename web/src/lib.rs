//! The `vaidya` service: configuration, composition of the crates' routers, operational endpoints, demo data.

pub mod app;
pub mod config;
pub mod demo;
pub mod openapi;
pub mod ops;
pub mod telemetry;

pub use app::{App, StartError};
pub use config::ServeConfig;
pub use openapi::openapi;
