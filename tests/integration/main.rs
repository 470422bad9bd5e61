//! Integration tests for fdbroker: each test starts the real `fdbroker serve` on a socket
//! in a fresh temp tree and runs `fdagent` (or the `scanner` example, or a raw protocol
//! client) as unprivileged uids against files only root can open.
//!
//! They need root (to own files as other uids and to switch uids); as non-root each test
//! prints SKIP, unless `FDBROKER_REQUIRE_ROOT` is set, where it fails. They use the built
//! binaries: run `cargo build --workspace --bins --examples` first (a binary older than its
//! sources fails the test that runs it, saying so).

mod harness;

mod admin;
mod attack_faults;
mod attack_paths;
mod attack_protocol;
mod attack_resources;
mod attack_roots;
mod audit;
mod batch;
mod clamd;
mod cli;
mod clib;
mod completions;
mod create;
mod deb;
mod demo;
mod docs;
mod helper_uid;
mod helpers;
mod identity;
mod lifecycle;
mod limits;
mod live_explain;
mod ls;
mod man;
mod names;
mod packaging;
mod paths;
mod policy_safety;
mod protocol;
mod python;
mod read;
mod reasons;
mod reload;
mod run;
mod run_as;
mod scanner;
mod service;
mod stall;
mod startup;
mod status;
mod timeouts;
