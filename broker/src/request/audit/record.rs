//! One audit record, in either format.

use std::fmt::Write as _;

use nix::errno::Errno;
use serde::Serialize;

use fdbroker_policy::{Namespace, Process, Rule};
use fdbroker_wire::Access;

use super::Outcome;
use fdbroker_wire::Escaped;

use super::path::push_quoted;
use crate::server::peer::PeerCreds;

/// What is recorded about one decision.
pub struct Record<'a> {
    pub peer: &'a PeerCreds,
    pub access: Access,
    pub path: &'a [u8],
    pub rule: Option<&'a str>,
    /// The client's unit and executable, when the deciding rule named them.
    pub named: Named<'a>,
    pub outcome: Outcome<'a>,
}

/// What a record says of the client's process: the fields the deciding rule named, so
/// that a decision that rests on them shows what they were; and, for a client in another
/// user namespace, the uid that owns it (`owner_uid=-` if unknown).
#[derive(Debug, Default, Clone, Copy)]
pub struct Named<'a> {
    pub unit: Option<&'a str>,
    pub exe: Option<&'a [u8]>,
    /// `Some` for a client in another user namespace: its owner's uid, if known.
    pub owner_uid: Option<Option<u32>>,
}

impl<'a> Named<'a> {
    /// The fields of `process` that `rule` names, and the owner of `namespace`.
    pub fn by(
        rule: Option<&Rule>,
        process: Option<&'a Process>,
        namespace: Namespace<'_>,
    ) -> Named<'a> {
        let owner_uid = match namespace {
            Namespace::Broker => None,
            Namespace::Other(owner) => Some(owner.map(|o| o.uid)),
        };
        let (Some(rule), Some(process)) = (rule, process) else {
            return Named {
                owner_uid,
                ..Named::default()
            };
        };
        Named {
            owner_uid,
            unit: process.unit.as_deref().filter(|_| !rule.units().is_empty()),
            exe: process
                .exe
                .as_deref()
                .filter(|_| !rule.executables().is_empty()),
        }
    }
}

/// ` uid=U gid=G pid=P access=A`, the part of a text record between the operation and
/// the path: the same in every record of one client asking for the same access, so
/// it is kept formatted (one per worker) and formatted again only when they change.
#[derive(Debug, Default)]
pub struct Subject {
    /// Whom and what `text` is for.
    key: Option<(u32, u32, i32, Access)>,
    text: String,
}

impl Subject {
    /// None yet.
    pub const fn new() -> Subject {
        Subject {
            key: None,
            text: String::new(),
        }
    }

    /// The text for `peer` asking for `access`.
    pub fn of(&mut self, peer: &PeerCreds, access: Access) -> &str {
        let key = (peer.uid, peer.gid, peer.pid, access);
        if self.key != Some(key) {
            let mut number = itoa::Buffer::new();
            let text = &mut self.text;
            text.clear();
            text.push_str(" uid=");
            text.push_str(number.format(peer.uid));
            text.push_str(" gid=");
            text.push_str(number.format(peer.gid));
            text.push_str(" pid=");
            text.push_str(number.format(peer.pid));
            text.push_str(" access=");
            let _ = write!(text, "{access}");
            self.key = Some(key);
        }
        &self.text
    }
}

/// The JSON object; field names are a stable interface (see the module docs).
#[derive(Serialize)]
struct Json<'a> {
    time: &'a str,
    decision: &'static str,
    uid: u32,
    user: Option<&'a str>,
    gid: u32,
    pid: i32,
    op: &'static str,
    access: String,
    path: String,
    rule: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unit: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exe: Option<String>,
    /// Present for a client in another user namespace: its owner (`null` if unknown).
    #[serde(skip_serializing_if = "Option::is_none")]
    owner_uid: Option<Option<u32>>,
    errno: Option<String>,
    reason: Option<&'a str>,
}

impl Record<'_> {
    fn decision(&self) -> &'static str {
        match self.outcome {
            Outcome::Allow | Outcome::Created => "allow",
            Outcome::Deny => "deny",
            Outcome::Fail { .. } => "fail",
        }
    }

    /// `create` when the broker created the file, else `open`.
    fn op(&self) -> &'static str {
        match self.outcome {
            Outcome::Created => "create",
            _ => "open",
        }
    }

    /// (errno name, reason) unless allowed.
    fn failure(&self) -> Option<(String, &str)> {
        match self.outcome {
            Outcome::Allow | Outcome::Created => None,
            Outcome::Deny => {
                let reason = if self.rule.is_some() {
                    "denied by rule"
                } else {
                    "default deny"
                };
                Some(("EACCES".into(), reason))
            }
            Outcome::Fail { errno, reason } => {
                Some((format!("{:?}", Errno::from_raw(errno)), reason))
            }
        }
    }

    /// Appends the text line (without a timestamp: the sink adds one), with `subject`, what
    /// [`Subject::of`] says of this record's peer and access. Plain appends, not `write!`:
    /// a batch formats up to 253 of these per reply.
    pub fn write_text(&self, subject: &str, out: &mut String) {
        out.push_str(self.decision());
        out.push_str(" op=");
        out.push_str(self.op());
        out.push_str(subject);
        out.push_str(" path=");
        push_quoted(out, self.path);
        out.push_str(" rule=");
        match self.rule {
            // `{:?}`, which leaves `'` alone where a path's escape would not.
            Some(rule) if rule.bytes().all(Escaped::is_plain) => {
                out.push('"');
                out.push_str(rule);
                out.push('"');
            }
            Some(rule) => {
                let _ = write!(out, "{rule:?}");
            }
            None => out.push('-'),
        }
        if let Some(unit) = self.named.unit {
            let _ = write!(out, " unit={unit:?}");
        }
        if let Some(exe) = self.named.exe {
            out.push_str(" exe=");
            push_quoted(out, exe);
        }
        match self.named.owner_uid {
            Some(Some(uid)) => {
                let _ = write!(out, " owner_uid={uid}");
            }
            Some(None) => out.push_str(" owner_uid=-"),
            None => {}
        }
        if let Some((errno, reason)) = self.failure() {
            let _ = write!(out, " errno={errno} reason={reason:?}");
        }
    }

    /// Appends the JSON object, on one line, stamped `time`.
    pub fn write_json(&self, out: &mut String, time: &str) {
        let failure = self.failure();
        let json = Json {
            time,
            decision: self.decision(),
            uid: self.peer.uid,
            user: self.peer.user.as_deref(),
            gid: self.peer.gid,
            pid: self.peer.pid,
            op: self.op(),
            access: self.access.to_string(),
            path: Escaped(self.path).to_string(),
            rule: self.rule,
            unit: self.named.unit,
            exe: self.named.exe.map(|e| Escaped(e).to_string()),
            owner_uid: self.named.owner_uid,
            errno: failure.as_ref().map(|(e, _)| e.clone()),
            reason: failure.map(|(_, r)| r),
        };
        match serde_json::to_string(&json) {
            Ok(line) => out.push_str(&line),
            Err(e) => {
                let _ = write!(out, "{{\"error\":\"cannot encode record: {e}\"}}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(r: &Record<'_>) -> String {
        let mut out = String::new();
        r.write_text(Subject::default().of(r.peer, r.access), &mut out);
        out
    }

    fn json(r: &Record<'_>) -> String {
        let mut out = String::new();
        r.write_json(&mut out, "2026-11-26T03:58:02.123Z");
        out
    }

    fn peer() -> PeerCreds {
        PeerCreds {
            uid: 2001,
            gid: 2002,
            pid: 77,
            groups: vec![],
            groups_for: crate::server::peer::GroupsFor::ALL,
            user: Some("alice".into()),
        }
    }

    #[test]
    fn identity_fields_follow_the_rule_in_both_formats() {
        let p = peer();
        let named = Named {
            unit: Some("clamav-daemon.service"),
            exe: Some(b"/usr/sbin/clam\xffd"),
            owner_uid: Some(Some(1002)),
        };
        let r = Record {
            peer: &p,
            access: Access::READ,
            path: b"/srv/a",
            rule: Some("scan"),
            named,
            outcome: Outcome::Deny,
        };
        assert_eq!(
            text(&r),
            r#"deny op=open uid=2001 gid=2002 pid=77 access=read path="/srv/a" rule="scan" unit="clamav-daemon.service" exe="/usr/sbin/clam\xffd" owner_uid=1002 errno=EACCES reason="denied by rule""#
        );
        assert!(
            json(&r).contains(
                r#""rule":"scan","unit":"clamav-daemon.service","exe":"/usr/sbin/clam\\xffd","owner_uid":1002,"errno""#
            ),
            "{}",
            json(&r)
        );
        let unknown = Record {
            named: Named {
                owner_uid: Some(None),
                ..Named::default()
            },
            ..r
        };
        assert!(text(&unknown).contains(r#"rule="scan" owner_uid=- errno="#));
        assert!(json(&unknown).contains(r#""rule":"scan","owner_uid":null,"errno""#));
    }

    #[test]
    fn text_lines_keep_their_documented_shape() {
        let p = peer();
        let r = Record {
            peer: &p,
            access: Access::READ,
            path: b"/srv/a",
            rule: Some("scan"),
            named: Named::default(),
            outcome: Outcome::Allow,
        };
        assert_eq!(
            text(&r),
            r#"allow op=open uid=2001 gid=2002 pid=77 access=read path="/srv/a" rule="scan""#
        );
        let created = Record {
            access: Access::WRITE | Access::CREATE,
            named: Named::default(),
            outcome: Outcome::Created,
            ..r
        };
        assert_eq!(
            text(&created),
            r#"allow op=create uid=2001 gid=2002 pid=77 access=write,create path="/srv/a" rule="scan""#
        );
        let r = Record {
            rule: None,
            named: Named::default(),
            outcome: Outcome::Deny,
            ..r
        };
        assert_eq!(
            text(&r),
            r#"deny op=open uid=2001 gid=2002 pid=77 access=read path="/srv/a" rule=- errno=EACCES reason="default deny""#
        );
    }

    /// A kept subject never speaks for another client, process or access.
    #[test]
    fn a_subject_follows_its_peer_and_access() {
        let mut subject = Subject::new();
        let p = peer();
        let line = " uid=2001 gid=2002 pid=77 access=read";
        assert_eq!(subject.of(&p, Access::READ), line);
        assert_eq!(subject.of(&p, Access::READ), line);
        assert_eq!(
            subject.of(&p, Access::READ | Access::WRITE),
            " uid=2001 gid=2002 pid=77 access=read,write"
        );
        for (field, change) in [
            (
                "uid=9",
                (|p: &mut PeerCreds| p.uid = 9) as fn(&mut PeerCreds),
            ),
            ("gid=9", |p| p.gid = 9),
            ("pid=9", |p| p.pid = 9),
        ] {
            let mut other = peer();
            change(&mut other);
            assert!(subject.of(&other, Access::READ).contains(field), "{field}");
        }
        assert_eq!(subject.of(&p, Access::READ), line, "and back");
    }

    #[test]
    fn json_records_have_the_stable_fields() {
        let p = peer();
        let fail = Outcome::Fail {
            errno: 2,
            reason: "no such file or directory",
        };
        let r = Record {
            peer: &p,
            access: Access::READ,
            path: b"/srv/\xff\"",
            rule: Some("scan"),
            named: Named::default(),
            outcome: fail,
        };
        let v: serde_json::Value = serde_json::from_str(&json(&r)).unwrap();
        assert_eq!(v["decision"], "fail");
        assert_eq!(
            (v["uid"].as_u64(), v["gid"].as_u64(), v["pid"].as_i64()),
            (Some(2001), Some(2002), Some(77))
        );
        assert_eq!(v["user"], "alice");
        assert_eq!(v["op"], "open");
        assert_eq!(v["access"], "read");
        assert_eq!(v["path"], r#"/srv/\xff\""#);
        assert_eq!(v["rule"], "scan");
        assert_eq!(v["errno"], "ENOENT");
        assert_eq!(v["reason"], "no such file or directory");
        assert!(
            v["time"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z') && t.len() == 24)
        );
        let allow = Record {
            named: Named::default(),
            outcome: Outcome::Allow,
            rule: None,
            ..r
        };
        let v: serde_json::Value = serde_json::from_str(&json(&allow)).unwrap();
        assert!(v["errno"].is_null() && v["reason"].is_null());
        let created = Record {
            named: Named::default(),
            outcome: Outcome::Created,
            ..allow
        };
        let v: serde_json::Value = serde_json::from_str(&json(&created)).unwrap();
        assert_eq!(
            (&v["decision"], &v["op"]),
            (&"allow".into(), &"create".into())
        );
    }
}
