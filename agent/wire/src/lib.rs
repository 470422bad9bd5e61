//! The fdbroker wire protocol (spec in progress).
mod access;
pub use access::{Access, UnknownAccessWord};
