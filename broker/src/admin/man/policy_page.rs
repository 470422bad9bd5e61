//! `fdbroker-policy.5`: the policy file reference, condensed from the `fdbroker-policy`
//! crate's documentation (policy/src/lib.rs), which stays the normative text. The example
//! uses numeric ids so that it loads on any machine (a test runs `fdbroker check` on it).

use std::io;

use roff::{Roff, roman};

use fdbroker_manpage::{NO_DATE, Page, inline, literal, paragraph, tagged};

/// The example policy of the EXAMPLES section.
pub const EXAMPLE: &str = r#"version = 1

# The scanner (uid 2001) reads and lists everything under /srv/uploads.
[[rule]]
name = "scanner-reads-uploads"
users = [2001]
paths = ["/srv/uploads/**"]
access = ["read", "list"]

# Nobody gets the quarantine, whatever other rules say.
[[rule]]
name = "no-quarantine"
users = ["*"]
paths = ["/srv/uploads/quarantine/**"]
access = ["read", "write", "create", "truncate", "list"]
effect = "deny"

# Members of group 2100 drop mail files into the spool, created mode 0640 at most.
[[rule]]
name = "ingest-drops-mail"
groups = [2100]
paths = ["/srv/spool/*.eml"]
access = ["write", "create"]
create_mode = 0o640"#;

/// The page's text.
pub fn render() -> io::Result<String> {
    let mut roff = Roff::new();
    let source = format!("fdbroker {}", env!("CARGO_PKG_VERSION"));
    roff.control(
        "TH",
        [
            "FDBROKER-POLICY",
            "5",
            NO_DATE,
            source.as_str(),
            "File Formats",
        ],
    );
    roff.control("SH", ["NAME"]);
    roff.text([roman(
        "fdbroker-policy - the policy file of fdbroker(8): which clients may open which files",
    )]);
    roff.control("SH", ["SYNOPSIS"]);
    paragraph(&mut roff, "`/etc/fdbroker/policy.toml`");
    description(&mut roff);
    format(&mut roff);
    rule_keys(&mut roff);
    access_words(&mut roff);
    patterns(&mut roff);
    decision(&mut roff);
    errors(&mut roff);
    roff.control("SH", ["EXAMPLES"]);
    paragraph(
        &mut roff,
        "A policy with an allow, a deny and a create rule:",
    );
    roff.extend([literal(EXAMPLE)]);
    paragraph(
        &mut roff,
        "Check it, ask which rule decides a request, and apply it to the running broker:",
    );
    roff.extend([literal(
        "fdbroker check --verbose /etc/fdbroker/policy.toml\n\
         fdbroker explain --policy /etc/fdbroker/policy.toml --uid 2001 \\\n    \
         --access read /srv/uploads/a.pdf\n\
         systemctl reload fdbroker     # or: fdbroker reload (fails unless it is in force)",
    )]);
    roff.control("SH", ["SEE ALSO"]);
    paragraph(&mut roff, "fdbroker(8), fdagent(1)");
    let mut page = Page::default();
    page.roff(&roff);
    page.finish()
}

fn description(roff: &mut Roff) {
    roff.control("SH", ["DESCRIPTION"]);
    paragraph(
        roff,
        "fdbroker opens files on behalf of unprivileged clients and passes them the open file \
         descriptors. It identifies each client by the kernel's peer credentials (uid, gid, \
         supplementary groups) and checks every request against this file. Everything is \
         denied unless a rule allows it, root included.",
    );
    paragraph(
        roff,
        "The broker refuses a policy file that is a symbolic link, is not owned by root (or \
         the broker's own user) or is writable by its group or others, and likewise for its \
         directory: keep it in a directory of its own, such as `/etc/fdbroker`. Validate \
         edits with `fdbroker check`, and apply them with SIGHUP: a valid file replaces the \
         policy for the next request; an invalid one is logged and the old policy stays.",
    );
}

fn format(roff: &mut Roff) {
    roff.control("SH", ["FORMAT"]);
    paragraph(
        roff,
        "The file is TOML (https://toml.io), UTF-8, at most 16 MiB. The top level has exactly \
         two keys:",
    );
    tagged(
        roff,
        "version",
        "Required: the integer `1`, the only version of the format so far.",
    );
    tagged(
        roff,
        "rule",
        "The rules, each a `[[rule]]` table, in any number. A policy with no rules denies \
         everything.",
    );
}

fn rule_keys(roff: &mut Roff) {
    roff.control("SH", ["RULE KEYS"]);
    paragraph(roff, "Each `[[rule]]` has these keys, and no others:");
    tagged(
        roff,
        "name",
        "Required. A non-empty name, unique in the file; the audit log, `fdbroker explain` \
         and `fdagent status` show it.",
    );
    tagged(
        roff,
        "users",
        "User names or numeric uids the rule applies to; `\"*\"` means every uid.",
    );
    tagged(
        roff,
        "groups",
        "Group names or numeric gids: the rule applies to a client whose primary group or \
         any supplementary group is listed.",
    );
    tagged(
        roff,
        "paths",
        "Required. A non-empty list of absolute path patterns (see PATH PATTERNS).",
    );
    tagged(
        roff,
        "access",
        "Required. A non-empty list of access words (see ACCESS WORDS).",
    );
    tagged(roff, "effect", "`\"allow\"` (the default) or `\"deny\"`.");
    tagged(
        roff,
        "create_mode",
        "Allow rules only: the mask applied to the mode of files this rule lets a client \
         create, in octal (`0o640`), at most `0o777`; default `0o600`. It must be octal \
         because a decimal 400 would silently mean 0o620.",
    );
    tagged(
        roff,
        "units",
        "A non-empty list of systemd service or scope names (`\"clamav-daemon.service\"`): \
         the rule applies only to a client whose process is in one of them (the last \
         `*.service` or `*.scope` component of its cgroup).",
    );
    tagged(
        roff,
        "executables",
        "A non-empty list of absolute paths (`\"/usr/sbin/clamd\"`): the rule applies only \
         to a client whose process runs one of them (`/proc/PID/exe`).",
    );
    tagged(
        roff,
        "user_namespaces",
        "Allow rules only: `true` lets the rule grant to a client in a user namespace other \
         than the broker's; default `false`, under which no rule grants such a client \
         anything.",
    );
    paragraph(
        roff,
        "A rule naming `units` or `executables` applies only when every field it names \
         matches the process that connected, which the broker reads through a pidfd and \
         confirms is still that process; a process that exited, or a kernel without \
         `SO_PEERPIDFD`, matches no such rule. A uid can still act through its own \
         programs (ptrace, `LD_PRELOAD`): these keys tell apart cooperating programs of one \
         uid, nothing more.",
    );
    paragraph(
        roff,
        "A rule applies to a client if its uid is in `users` or its primary or a \
         supplementary gid is in `groups`. A rule must have `users` or `groups` (or both), \
         each non-empty: there is no implicit everyone; write `users = [\"*\"]` for that. \
         `\"*\"` is allowed in `users` only. A string is a name, looked up when the policy \
         is loaded (an unknown name is an error; renaming a user later does not change a \
         loaded policy); an integer is an id, 0 to 4294967294. A quoted number such as \
         `\"1001\"` is a name: write `1001` for the id.",
    );
}

fn access_words(roff: &mut Roff) {
    roff.control("SH", ["ACCESS WORDS"]);
    tagged(roff, "read", "Read the file.");
    tagged(roff, "write", "Write the file.");
    tagged(
        roff,
        "create",
        "Create the file if it is missing, exclusively, owned by the client, its mode bounded \
         by `0666` and the rule's `create_mode`. An existing file is opened as it is, never \
         re-owned; the reply and the audit record (`op=create` or `op=open`) say which.",
    );
    tagged(
        roff,
        "create_new",
        "Create the file, like `create`, but fail with `EEXIST` if the name exists: never \
         open a file that is there, whoever made it.",
    );
    tagged(roff, "truncate", "Empty the file when opening it.");
    tagged(roff, "list", "Open a directory, to read its entries.");
    paragraph(
        roff,
        "A request's `create`, `create_new` and `truncate` need `write` in the same request, \
         and `create` and `create_new` exclude each other. A `create` grant also grants \
         `create_new` (which does less); a `create_new` grant does not grant `create`; a \
         deny rule naming either creating word denies both. Only regular files are handed \
         out, and directories only for `list`; FIFOs, sockets and devices never are. \
         A rule granting `write` without `truncate` needs Landlock's truncate right (Linux \
         6.2 or later) to keep clients from truncating through the fd: without it the \
         broker refuses the policy.",
    );
    paragraph(
        roff,
        "There is no `append`: whoever holds an fd can clear `O_APPEND` with \
         `fcntl(F_SETFL)` and write anywhere in the file, so an fd cannot be append-only. \
         A policy naming `append` is refused with that reason; grant `write`.",
    );
}

fn patterns(roff: &mut Roff) {
    roff.control("SH", ["PATH PATTERNS"]);
    paragraph(
        roff,
        "A pattern is an absolute path whose components may contain wildcards. It always \
         matches the whole path, never a prefix, byte by byte and component by component; \
         request paths need not be UTF-8.",
    );
    tagged(
        roff,
        "*",
        "Any run of bytes, including none, within one component: `/srv/*` matches `/srv/x` \
         but neither `/srv` nor `/srv/x/y`; `/srv/*.eml` matches `/srv/.eml`. Names \
         starting with a dot are not special.",
    );
    tagged(
        roff,
        "**",
        "A whole component only: zero or more whole components. `/**/x` matches `/x`, \
         `/a/x` and `/a/b/x`. Because zero components count, `/srv/scan/**` matches the \
         directory `/srv/scan` itself as well as everything below it; use `/srv/scan/*` \
         (one level) or `/srv/scan/*/**` (any depth) for only what is below it.",
    );
    paragraph(
        roff,
        "Every other character, including `?`, `[`, `]`, `{` and `\\`, is literal: there are \
         no character classes, alternatives or escapes. Patterns must be normalized: no \
         empty component (`//`), no `.` or `..` component, no trailing `/` (except the \
         pattern `/` itself), no NUL, and no `**` inside a longer component. A request path \
         that is not absolute and normalized matches nothing and is denied. A symbolic \
         link in any component of a request path makes the open fail (`ELOOP`): name real \
         paths in rules and requests.",
    );
}

fn decision(roff: &mut Roff) {
    roff.control("SH", ["HOW A REQUEST IS DECIDED"]);
    paragraph(
        roff,
        "A request is a client, a path and a set of access words. Only rules that apply to \
         the client and have a pattern matching the path count:",
    );
    for (n, text) in [
        (
            "1.",
            "If a deny rule names any of the requested words, the request is denied; the \
             first such deny rule in the file decides.",
        ),
        (
            "2.",
            "Otherwise, if one allow rule grants every requested word by itself, the \
             request is allowed; the first such rule decides (grants of different rules are \
             not combined).",
        ),
        ("3.", "Otherwise the request is denied by default."),
    ] {
        roff.control("IP", [n, "4"]);
        roff.text([roman(text)]);
    }
    paragraph(
        roff,
        "Deny rules therefore win wherever they are in the file. Root gets only what a rule \
         grants it.",
    );
    paragraph(
        roff,
        "A deny rule binds the uid and groups the kernel reports for the connecting \
         process, nothing more. A user with subordinate uids (`/etc/subuid`) can connect \
         as one of them, another uid to the broker; one with subordinate gids \
         (`/etc/subgid`) can drop its supplementary groups (`newgidmap`, then `setgroups`). \
         So a client in a user namespace other than the broker's is decided as the \
         namespace's owner too: deny rules naming the owner or the owner's groups (from the \
         group database) bind it, and only a rule with `user_namespaces = true` grants it \
         anything. Without `SO_PEERPIDFD` the broker cannot tell, and such a user escapes \
         a deny rule that names it or its group; `fdbroker check --verbose` warns of such \
         deny rules. A deny rule with `users = [\"*\"]` binds everyone.",
    );
}

fn errors(roff: &mut Roff) {
    roff.control("SH", ["ERRORS"]);
    paragraph(
        roff,
        "A policy with any error is rejected as a whole, and every error is reported as \
         `FILE:LINE:COL: message`, at the key or value at fault (`fdbroker check` prints \
         them and exits 1):",
    );
    for text in [
        "invalid TOML (reported alone, until fixed), a file over 16 MiB, or text that is not \
         UTF-8;",
        "a missing `version`, or one that is not the integer `1`;",
        "an unknown key, at the top level or in a rule;",
        "a value of the wrong type, or an empty `users`, `groups`, `paths` or `access`;",
        "a rule without `name`, `paths` or `access`, or with neither `users` nor `groups`; \
         an empty or duplicate name;",
        "an unknown access word or effect, or an invalid path pattern;",
        "an unknown user or group name, `\"*\"` in `groups`, or an id out of range;",
        "a `create_mode` in a deny rule, not written in octal, or above `0o777`;",
        "a unit that is not a service or scope name, an executable that is not an \
         absolute, normalized path, or `user_namespaces` in a deny rule.",
    ] {
        bullet(roff, text);
    }
}

/// A bulleted paragraph of `text` (with `` ` `` marking bold words).
fn bullet(roff: &mut Roff, text: &str) {
    roff.control("IP", ["\\(bu", "2"]);
    roff.text(inline(text));
}
