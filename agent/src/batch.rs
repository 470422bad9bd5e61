//! Batches: many paths in one round trip (`OpenMany`), and several batches in flight on
//! one connection (pipelining).

use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use fdbroker_wire::{
    Access, Batch, ErrorKind, MAX_BATCH, MAX_FDS, MAX_PATH, MAX_REQUEST, Outcome, Request, Response,
};
use rustix::io::Errno;

use crate::client::malformed;
use crate::{BrokerError, Client};

/// How many batches [`Client::open_many`] keeps in flight: two is enough for the broker to
/// open the next batch while this process takes in the last. (Public so that a caller
/// pipelining with [`Client::submit_many`] itself, like the benchmark, can do the same.)
pub const PIPELINE_DEPTH: usize = 2;

/// Bytes of an `OpenMany` message besides its paths (version, tag, counts, access, mode),
/// and per path besides its bytes (its length varint), with headroom.
const BATCH_OVERHEAD: usize = 32;
const PATH_OVERHEAD: usize = 3;

impl Client {
    /// Opens each of `paths` with `access`, in as few round trips as the protocol allows
    /// (batches of up to [`MAX_BATCH`] paths, two in flight at a time). The result has one
    /// entry per path, in order; the outer error is for a failure of the connection itself.
    ///
    /// ```no_run
    /// use fdbroker_agent::{Access, Client};
    ///
    /// let mut client = Client::connect_default()?;
    /// let paths = ["/srv/uploads/a.txt", "/srv/uploads/b.txt"];
    /// for (path, file) in paths.iter().zip(client.open_many(&paths, Access::READ)?) {
    ///     match file {
    ///         Ok(file) => println!("{path}: {} bytes", file.metadata()?.len()),
    ///         Err(e) => println!("{path}: {e}"),
    ///     }
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn open_many<P: AsRef<Path>>(
        &mut self,
        paths: &[P],
        access: Access,
    ) -> io::Result<Vec<io::Result<File>>> {
        self.open_many_with_mode(paths, access, 0o600)
    }

    /// Like [`Client::open_many`], with the mode for the files created under
    /// [`Access::CREATE`] or [`Access::CREATE_NEW`] (bounded by the broker as for
    /// [`Client::open_with_mode`]).
    ///
    /// ```no_run
    /// use fdbroker_agent::{Access, Client};
    ///
    /// let mut client = Client::connect_default()?;
    /// let access = Access::WRITE | Access::CREATE_NEW;
    /// let files = client.open_many_with_mode(&["/srv/out/1", "/srv/out/2"], access, 0o640)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn open_many_with_mode<P: AsRef<Path>>(
        &mut self,
        paths: &[P],
        access: Access,
        create_mode: u32,
    ) -> io::Result<Vec<io::Result<File>>> {
        let mut results = Vec::with_capacity(paths.len());
        let mut rest = paths;
        loop {
            if !rest.is_empty() && self.pending.len() < PIPELINE_DEPTH {
                let take = batch_len(rest);
                if take > 0 {
                    self.submit_many_with_mode(&rest[..take], access, create_mode)?;
                    rest = &rest[take..];
                    continue;
                }
                // A path too long to send fails on its own, in its place in the order.
                if self.pending.is_empty() {
                    let err = BrokerError::new(
                        ErrorKind::TooLarge,
                        Errno::NAMETOOLONG.raw_os_error(),
                        "path too long",
                    );
                    results.push(Err(err.into_io()));
                    rest = &rest[1..];
                    continue;
                }
            }
            if self.pending.is_empty() {
                return Ok(results);
            }
            results.extend(self.receive_many()?);
        }
    }

    /// Sends one `OpenMany` request for `paths` (at most [`MAX_BATCH`], fitting in one
    /// message: see [`batch_len`]) without waiting for its reply, so a client can overlap
    /// its own work with the broker's. Collect the replies, oldest first, with
    /// [`Client::receive_many`].
    ///
    /// ```no_run
    /// use fdbroker_agent::{Access, Client};
    ///
    /// let mut client = Client::connect_default()?;
    /// client.submit_many(&["/srv/a/1", "/srv/a/2"], Access::READ)?;
    /// client.submit_many(&["/srv/b/1"], Access::READ)?;
    /// let first = client.receive_many()?; // the two files of /srv/a
    /// let second = client.receive_many()?; // the file of /srv/b
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn submit_many<P: AsRef<Path>>(&mut self, paths: &[P], access: Access) -> io::Result<()> {
        self.submit_many_with_mode(paths, access, 0o600)
    }

    /// Like [`Client::submit_many`], with the mode for created files, as
    /// [`Client::open_many_with_mode`] takes it.
    pub fn submit_many_with_mode<P: AsRef<Path>>(
        &mut self,
        paths: &[P],
        access: Access,
        create_mode: u32,
    ) -> io::Result<()> {
        if paths.is_empty() || batch_len(paths) < paths.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a batch holds 1 to {MAX_BATCH} paths of at most {MAX_PATH} bytes, fitting in {MAX_REQUEST} bytes"
                ),
            ));
        }
        let paths: Vec<&[u8]> = paths
            .iter()
            .map(|p| p.as_ref().as_os_str().as_bytes())
            .collect();
        let count = paths.len();
        self.send(&Request::OpenMany {
            paths: Batch(paths),
            access,
            create_mode,
        })?;
        self.pending.push_back(count);
        Ok(())
    }

    /// Receives the reply to the oldest batch sent with [`Client::submit_many`]: one entry
    /// per path, in order.
    pub fn receive_many(&mut self) -> io::Result<Vec<io::Result<File>>> {
        let Some(count) = self.pending.pop_front() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no batch is waiting for a reply",
            ));
        };
        self.with_reply_buffer(|client, buf| {
            let (response, fds) = client.receive(buf, MAX_FDS)?;
            let Response::OpenedMany { results } = response else {
                return Err(malformed("the broker answered a different request"));
            };
            let results = results.0;
            let opened = results
                .iter()
                .filter(|r| matches!(r, Outcome::Opened { .. } | Outcome::Created { .. }))
                .count();
            if results.len() != count || fds.len() != opened {
                return Err(malformed("the broker's reply does not match the batch"));
            }
            let mut fds = fds.into_iter();
            Ok(results
                .into_iter()
                .map(|outcome| match outcome {
                    Outcome::Opened { .. } | Outcome::Created { .. } => {
                        Ok(File::from(fds.next().expect("counted above")))
                    }
                    // A broker older than `FailedWith` gives no reason: its kind says most.
                    Outcome::Failed { kind, errno } => {
                        Err(BrokerError::new(kind, errno, kind.as_str()).into_io())
                    }
                    Outcome::FailedWith {
                        kind,
                        errno,
                        reason,
                    } => Err(BrokerError::new(kind, errno, reason.as_str()).into_io()),
                })
                .collect())
        })
    }
}

/// How many of `paths`, from the first, fit in one `OpenMany` message: at most
/// [`MAX_BATCH`], within [`MAX_REQUEST`] bytes; 0 if the first path is longer than
/// [`MAX_PATH`] (the broker would refuse it anyway).
pub fn batch_len<P: AsRef<Path>>(paths: &[P]) -> usize {
    let mut bytes = BATCH_OVERHEAD;
    let mut count = 0;
    for path in paths.iter().take(MAX_BATCH) {
        let len = path.as_ref().as_os_str().len();
        bytes += len + PATH_OVERHEAD;
        if len > MAX_PATH || bytes > MAX_REQUEST {
            break;
        }
        count += 1;
    }
    count
}
