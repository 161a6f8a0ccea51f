//! The `vaidya` service: configuration, composition of the crates' routers, operational endpoints, demo data, the browser pages.

pub mod app;
pub mod config;
pub mod demo;
pub mod openapi;
pub mod ops;
pub mod pages;
pub mod telemetry;

pub use app::{App, StartError};
pub use config::ServeConfig;
pub use openapi::openapi;
