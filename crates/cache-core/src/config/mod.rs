//! The configuration model, read from YAML with environment overrides and
//! validated fail-fast with errors that name the field.

mod model;

pub use model::*;
