//! The broker's side of its policy: the rules themselves are the `fdbroker-policy` crate;
//! here is what a running broker keeps around them.
//!
//! The policy file is loaded only after checking who could have written it ([`file`](mod@file));
//! the loaded policy is the live one every request reads and a reload replaces as a whole
//! ([`store`]), with its counters ([`stats`]) and the allow rules whose roots could not be
//! confined to, which serve nothing ([`inactive`]).

pub mod file;
pub mod inactive;
mod stats;
pub mod store;
