//! Client library for fdbroker: ask the broker to open a file, get back an open
//! [`std::fs::File`], and read or write it at native speed.
//!
//! The broker decides by this process's uid and groups at connect time, under the policy
//! its administrator wrote. Errors are `io::Error`s with the kind a direct open would give
//! (`PermissionDenied` for a denial); [`BrokerError::from_io`] gives the broker's details.
//!
//! ```no_run
//! use std::io::Read;
//! use fdbroker_agent::{Access, Client};
//!
//! let mut client = Client::connect_default()?;
//! let mut file = client.open("/srv/uploads/a.txt", Access::READ)?;
//! let mut contents = Vec::new();
//! file.read_to_end(&mut contents)?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! A program that embeds this library depends on it with `default-features = false`: the
//! default `cli` feature is the `fdagent` binary's, and brings only its dependencies.

#![forbid(unsafe_code)]

mod batch;
mod client;
mod error;
mod explain;
mod status;

pub use batch::{PIPELINE_DEPTH, batch_len};
pub use client::{Client, Opened, SOCKET_ENV, default_socket};
pub use error::BrokerError;
pub use explain::{ExplainFor, Explanation};
pub use fdbroker_wire::{Access, ErrorKind, FileKind, MAX_BATCH, MAX_EXPLAIN_GROUPS, ReloadResult};
pub use status::{BrokerStatus, ReloadAttempt, RuleCounts, StatusReply};
