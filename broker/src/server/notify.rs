//! Telling the service manager how the broker is doing (`Type=notify` or `notify-reload`
//! units, [`sd_notify(3)`]): ready once it serves, reloading around SIGHUP, stopping at
//! exit, and a status line. Without `NOTIFY_SOCKET` in the environment these do nothing.
//!
//! [`sd_notify(3)`]: https://www.freedesktop.org/software/systemd/man/latest/sd_notify.html

use sd_notify::NotifyState;

fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        log::warn!("cannot notify the service manager: {e}");
    }
}

/// Start-up (or a reload) is over: the broker serves with `status`.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// A reload starts now (systemd wants the monotonic time with it).
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(e) => log::warn!("cannot read the monotonic clock: {e}"),
    }
}

/// The broker is shutting down.
pub fn stopping() {
    send(&[NotifyState::Stopping]);
}

/// A new status line, e.g. current counts.
pub fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}
