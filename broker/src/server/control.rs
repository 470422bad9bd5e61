//! The server's own housekeeping: signals (reload, shutdown), the reloader thread, the
//! periodic tick (idle connections, paused accepts, connections parked for unread fds,
//! status lines). The `Reload` request asks the same reloader (see [`super::reloads`]).

use std::os::fd::AsFd;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;

use nix::sys::signal::Signal;

use super::notify;
use super::pacer::Pacer;
use super::unread::unread;
use super::{LISTENER, SIGNALS, STATUS_EVERY_TICKS, Server, TICK};
use crate::count::count;

impl Server<'_> {
    /// The service manager's status line: what is loaded, and what has been decided.
    pub(super) fn status_line(&self) -> String {
        let live = self.store.current();
        let (allowed, denied) = live.counts.totals();
        let (open, _) = self.conns.connections().counts();
        let rules = count(live.policy.rules().len(), "rule");
        let open = count(open, "connection");
        format!("{rules}; {open}; {allowed} allowed, {denied} denied since the policy was loaded")
    }

    /// The reloader thread: reloads on request, paced (see [`pacer`](super::pacer)) so that
    /// parsing even a large policy takes a CPU from requests only in short slices; they go
    /// on with the old policy until the new one is swapped in.
    pub(super) fn reloader(&self, requests: &Receiver<()>) {
        self.reloads.serve(requests, || {
            let _pacer = Pacer::start()
                .inspect_err(|e| log::debug!("cannot pace the reload thread: {e}"))
                .ok();
            notify::reloading();
            self.audit.reopen();
            self.store.reload();
            if let Some(shadow) = self.shadow {
                shadow.reload();
            }
            notify::ready(&self.status_line());
        });
    }

    /// Stops the server: ends the reloader (its channel closes) and wakes every worker,
    /// each of which returns once its current request is answered.
    pub(super) fn shut_down(&self) {
        notify::stopping();
        self.reloads.close();
        self.gate.close();
        if let Err(e) = rustix::io::write(&self.shutdown, &1u64.to_ne_bytes()) {
            log::error!("cannot signal shutdown to the workers: {e}");
        }
    }

    pub(super) fn on_signals(&self) {
        loop {
            match self.signals.read_signal() {
                Ok(Some(info)) => match Signal::try_from(info.ssi_signo as i32) {
                    // A reload already due covers this signal too.
                    Ok(Signal::SIGHUP) => {
                        self.reloads.ask();
                    }
                    Ok(sig) => {
                        log::info!(
                            "{sig} received, finishing requests in progress and shutting down"
                        );
                        self.shut_down();
                        return;
                    }
                    Err(_) => {}
                },
                Ok(None) => break,
                Err(e) => {
                    log::error!("reading signals failed: {e}");
                    break;
                }
            }
        }
        if let Err(e) = self.rearm(self.signals, SIGNALS) {
            log::error!("cannot re-arm the signal fd: {e}");
        }
    }

    pub(super) fn on_tick(&self) {
        let mut expirations = [0u8; 8];
        let _ = rustix::io::read(&self.tick, &mut expirations);
        for (level, line) in self.gate.news() {
            log::log!(target: "fdbroker::server::gate", level, "{line}");
        }
        if self
            .ticks
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(STATUS_EVERY_TICKS)
        {
            notify::status(&self.status_line());
        }
        {
            let mut reserve = self.reserve.lock().unwrap_or_else(|e| e.into_inner());
            if reserve.is_none() {
                *reserve = self.new_reserve();
            }
        }
        if self.accept_paused.swap(false, Ordering::AcqRel)
            && let Err(e) = self.rearm(self.listener, LISTENER)
        {
            log::error!("cannot resume accepting: {e}");
        }
        // Hand back the connections parked while their uid had too many fds unread, once
        // its clients have read enough of them.
        for uid in self.conns.fd_parked_uids() {
            self.fds_read(uid, self.conns.settle_uid(uid));
        }
        // Close idle and retiring connections, but only once their replies are read:
        // closing would leave the fds in them in flight, charged to the broker.
        let now = self.now_ms();
        let cutoff = now.saturating_sub(self.limits.idle_timeout.as_millis() as u64);
        for (token, conn) in self.conns.closable(cutoff) {
            if unread(conn.fd.as_fd()).unwrap_or(0) > 0 {
                continue;
            }
            self.close(token);
            if !conn.retiring() {
                let (uid, pid, idle) = (conn.peer.uid, conn.peer.pid, self.limits.idle_timeout);
                log::info!("closed connection of uid={uid} pid={pid}: idle for {idle:?}");
            }
        }
        if let Err(e) = self.rearm(&self.tick, TICK) {
            log::error!("cannot re-arm the timer: {e}");
        }
    }
}
