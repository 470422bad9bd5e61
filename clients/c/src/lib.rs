//! libfdagent: the C interface of the fdbroker client library (`include/fdagent.h`).
//!
//! A thin layer over [`fdbroker_agent::Client`]: the Rust library stays free of any C ABI
//! and of `unsafe`, and this crate only turns C arguments into Rust values and results
//! back into fds, `-1` and errno. The functions are `pub` so that this crate's tests call
//! them as a C program would; a C program links `libfdagent.so` or `libfdagent.a`.
//!
//! Every entry point runs inside `entry::run`: a panic becomes an error (`EIO`), never
//! an unwind into C. Pointer arguments are read in `args`, the only place with
//! `unsafe`. Errors are recorded per thread in `last_error`.

mod abi;
mod args;
mod entry;
mod last_error;

pub use abi::{
    fdagent, fdagent_close, fdagent_connect, fdagent_last_errno, fdagent_last_error, fdagent_open,
    fdagent_open_many, fdagent_ping,
};
