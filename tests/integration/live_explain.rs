//! `fdbroker explain --socket PATH` asks the running broker, whose policy in force is what
//! clients get, instead of the policy file on disk, which may have changed since.

use crate::harness::{ALICE, BOB, Broker, Output, Policy, Tree, User, itest, write_policy};

/// A group no test user is in, named only by the explained requests.
const GROUP: u32 = 2100;

/// A policy of two allow rules over `data/**`: `NAME-user` for `user`, `NAME-group` for
/// [`GROUP`].
fn policy(tree: &Tree, name: &str, user: User) -> String {
    let data = format!("{}/**", tree.p("data"));
    Policy::new()
        .allow(&format!("{name}-user"))
        .users(&[user])
        .paths(&[data.as_str()])
        .access("read")
        .allow(&format!("{name}-group"))
        .groups(&[GROUP])
        .paths(&[data.as_str()])
        .access("read")
        .to_string()
}

/// `fdbroker explain SOURCE --uid ID --gid ID [--groups G] --access read PATH`, as `who`
/// (root when `None`).
fn explain(
    broker: &Broker,
    path: &str,
    who: Option<User>,
    source: &[&str],
    id: u32,
    groups: &str,
) -> Output {
    let cmd = match who {
        Some(user) => broker.client(user, "fdbroker"),
        None => broker.admin("fdbroker"),
    };
    let id = id.to_string();
    let mut args = vec!["--uid", &id, "--gid", &id, "--access", "read"];
    if !groups.is_empty() {
        args.extend(["--groups", groups]);
    }
    cmd.arg("explain").args(source).args(args).arg(path).run()
}

itest!(
    explain_socket_asks_the_policy_in_force_not_the_file,
    |tree| {
        tree.private_file("data/a.txt", b"alpha\n");
        let path = tree.p("data/a.txt");
        let broker = Broker::start(&tree, &policy(&tree, "old", ALICE));
        // The file changes on disk, and is not reloaded: the broker still serves "old".
        write_policy(broker.policy_path(), &policy(&tree, "new", BOB));
        let file = broker.policy_path().display().to_string();
        let socket = broker.socket_str();
        let from_file = ["--policy", file.as_str()];
        let live = ["--socket", socket.as_str()];
        let in_force = format!("decided by the policy in force at the broker on {socket} (loaded ");

        explain(&broker, &path, None, &from_file, ALICE.uid, "")
            .code_is(1)
            .stdout_is("deny (no rule matched: default deny)\n");
        let out = explain(&broker, &path, None, &live, ALICE.uid, "");
        out.code_is(0);
        let stdout = out.stdout_str();
        assert!(
            stdout.starts_with("allow (rule \"old-user\")\n") && stdout.contains(&in_force),
            "{stdout}"
        );
        broker.cat(ALICE, &path).code_is(0).stdout_is("alpha\n");

        explain(&broker, &path, None, &from_file, BOB.uid, "")
            .code_is(0)
            .stdout_is("allow (rule \"new-user\")\n");
        let out = explain(&broker, &path, None, &live, BOB.uid, "");
        out.code_is(1);
        assert!(
            out.stdout_str()
                .starts_with("deny (no rule matched: default deny)\n"),
            "{}",
            out.stdout_str()
        );
        broker.cat(BOB, &path).code_is(77);

        // The supplementary groups given travel to the broker and count.
        let out = explain(&broker, &path, None, &live, 2009, &GROUP.to_string());
        out.code_is(0);
        assert!(
            out.stdout_str().starts_with("allow (rule \"old-group\")\n"),
            "{}",
            out.stdout_str()
        );
        explain(&broker, &path, None, &live, 2009, "").code_is(1);

        // Only root may ask: the policy is the administrator's business.
        explain(&broker, &path, Some(ALICE), &live, ALICE.uid, "")
            .code_is(3)
            .stdout_is("")
            .stderr_has("explain is for root");
        broker.expect_log("refused explain request from uid=2001");
        // Asking opens nothing and writes no audit record: only the two real requests do.
        let log = broker.wait_for_count("op=open", 2);
        assert_eq!(log.matches("op=open").count(), 2, "{log}");

        // Both sources at once make no sense.
        broker
            .admin("fdbroker")
            .args(["explain", "--policy", &file, "--socket", &socket])
            .args(["--uid", "0", "--access", "read", "/x"])
            .run()
            .code_is(2);
    }
);
