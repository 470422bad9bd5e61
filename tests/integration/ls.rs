//! `fdagent ls`: a client lists a root-only directory it cannot search itself, through a
//! `list` fd from the broker; without a `list` grant it is denied, and a file is not a
//! directory.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use crate::harness::{ALICE, BOB, Broker, Policy, Tree, itest};

/// `data/`, root-only (0700), holding a file, a subdirectory, a symlink to that
/// subdirectory, and names with a newline and with a byte that is not UTF-8.
fn setup(tree: &Tree, access: &str) -> String {
    tree.private_file("data/b", b"b\n");
    tree.private_file("data/a.txt", b"a\n");
    tree.dir("data/d", 0o700);
    tree.symlink("data/link", "d");
    for name in [&b"new\nline"[..], b"\xff"] {
        let path = tree.path("data").join(OsStr::from_bytes(name));
        std::fs::write(&path, b"").expect("write an odd name");
    }
    Policy::new()
        .allow("alice-lists-data")
        .users(&[ALICE])
        .paths(&[tree.p("data/**")])
        .access(access)
        .to_string()
}

itest!(ls_lists_a_private_directory_through_a_list_grant, |tree| {
    let policy = setup(&tree, "list");
    let broker = Broker::start(&tree, &policy);
    let data = tree.p("data");
    // Alice cannot search the directory herself: the listing can only come from the fd.
    tree.cmd(std::path::Path::new("/bin/ls"))
        .user(ALICE)
        .arg(&data)
        .run()
        .code_is(2);
    let out = broker.fdagent(ALICE).args(["ls", &data]).run();
    // Sorted by bytes; `d/` is a directory, `link` a symlink (to a directory, not followed);
    // the newline and the 0xff byte are escaped so that each line is one name.
    out.code_is(0)
        .stdout_is("a.txt\nb\nd/\nlink\nnew\\nline\n\\xff\n")
        .no_stderr();
    broker.expect_log(&format!(
        "allow op=open uid=2001 gid=2001 pid={} access=list path={data:?} rule=\"alice-lists-data\"",
        out.pid
    ));
});

itest!(ls_is_denied_without_a_list_grant, |tree| {
    let policy = setup(&tree, "read");
    let broker = Broker::start(&tree, &policy);
    let data = tree.p("data");
    for user in [ALICE, BOB] {
        broker
            .fdagent(user)
            .args(["ls", &data])
            .run()
            .code_is(77)
            .stdout_is("")
            .stderr_has("permission denied by the fdbroker policy");
    }
});

itest!(ls_of_a_file_or_a_missing_path_fails_like_cat, |tree| {
    let policy = setup(&tree, "list");
    let broker = Broker::start(&tree, &policy);
    let file = tree.p("data/a.txt");
    broker
        .fdagent(ALICE)
        .args(["ls", &file])
        .run()
        .code_is(74)
        .stdout_is("")
        .stderr_has(&format!("fdagent: {file}: not a directory"));
    broker
        .fdagent(ALICE)
        .args(["ls", &tree.p("data/missing")])
        .run()
        .code_is(66)
        .stdout_is("");
});
