//! `OpenMany`: one round trip for many paths, each decided, audited and answered on its
//! own, in order, with exactly one fd per granted path; and the CLI and pipelining on top.

use std::io::Read;
use std::os::unix::fs::symlink;

use fdbroker_agent::{BrokerError, Client, ErrorKind, MAX_BATCH};
use fdbroker_wire::{Access, Batch, Request};

use std::time::Duration;

use crate::harness::{
    ALICE, Broker, Policy, RawConn, Tree, itest, wait_until, within, write_policy,
};

/// Root (in-process) and alice may read `data/**`; `secret` is covered by no rule.
fn setup(tree: &Tree) -> String {
    tree.private_file("data/a.txt", b"alpha\n");
    tree.private_file("data/b.txt", b"beta\n");
    tree.private_file("secret", b"secret\n");
    Policy::new()
        .allow("readers")
        .users(&[0, ALICE.uid])
        .paths(&[tree.p("data/**")])
        .access("read")
        .to_string()
}

fn read_all(mut file: std::fs::File) -> String {
    let mut text = String::new();
    file.read_to_string(&mut text).expect("read brokered fd");
    text
}

fn kind_of(result: &std::io::Result<std::fs::File>) -> Option<ErrorKind> {
    result
        .as_ref()
        .err()
        .map(|e| BrokerError::from_io(e).expect("a broker error").kind())
}

itest!(each_path_is_answered_on_its_own_in_order, |tree| {
    let policy = setup(&tree);
    rustix::fs::mknodat(
        rustix::fs::CWD,
        tree.path("data/fifo").as_path(),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .expect("mkfifo");
    symlink(tree.path("secret"), tree.path("data/link")).expect("symlink");
    let broker = Broker::start(&tree, &policy);
    let paths = [
        tree.p("data/a.txt"),
        tree.p("secret"),
        tree.p("data/missing"),
        "data/relative".to_owned(),
        tree.p("data/link"),
        tree.p("data/fifo"),
        tree.p("data/b.txt"),
    ];
    let socket = broker.socket().to_owned();
    let results = within(Duration::from_secs(10), move || {
        let mut client = Client::connect(&socket).expect("connect");
        client.open_many(&paths, Access::READ).expect("batch")
    });
    let kinds: Vec<Option<ErrorKind>> = results.iter().map(kind_of).collect();
    assert_eq!(
        kinds,
        [
            None,
            Some(ErrorKind::Denied),
            Some(ErrorKind::NotFound),
            Some(ErrorKind::InvalidRequest),
            Some(ErrorKind::Io),
            Some(ErrorKind::NotRegular),
            None,
        ]
    );
    let mut results = results.into_iter();
    assert_eq!(read_all(results.next().unwrap().unwrap()), "alpha\n");
    assert_eq!(read_all(results.last().unwrap().unwrap()), "beta\n");
    // One audit line per decided path (the relative one is refused before any decision).
    let log = broker.wait_for_count(" op=open uid=0 ", 6);
    assert_eq!(log.matches(" op=open uid=0 ").count(), 6, "{log}");
    assert!(log.contains("refused path from uid=0"), "{log}");
});

// Files that share a directory are opened by name in it (the directory walked to once,
// see `broker/src/request/siblings.rs`): the answers are those of whole-path opens,
// whatever the directory turns out to be (a symlink, a file, missing), and with a symlink
// under a name in it.
itest!(
    files_of_one_directory_get_the_answers_of_whole_path_opens,
    |tree| {
        let policy = setup(&tree);
        tree.private_file("data/sub/c.txt", b"gamma\n");
        tree.symlink("data/sub/link", tree.path("secret"));
        tree.symlink("data/up", tree.path("data/sub"));
        let broker = Broker::start(&tree, &policy);
        let baseline = broker.fd_count();
        let twice = |rel: &str| [tree.p(rel), tree.p(rel)];
        let paths: Vec<String> = [
            twice("data/sub/c.txt"),
            twice("data/sub/link"),
            twice("data/up/c.txt"),
            twice("data/a.txt/c.txt"),
            twice("data/gone/c.txt"),
            twice("data/sub/missing"),
        ]
        .concat();
        let socket = broker.socket().to_owned();
        let results = within(Duration::from_secs(10), move || {
            let mut client = Client::connect(&socket).expect("connect");
            client.open_many(&paths, Access::READ).expect("batch")
        });
        let errnos: Vec<Option<i32>> = results
            .iter()
            .map(|r| {
                r.as_ref()
                    .err()
                    .map(|e| BrokerError::from_io(e).expect("a broker error").errno())
            })
            .collect();
        let enoent = Some(libc::ENOENT);
        assert_eq!(
            errnos,
            [
                None,
                None,
                Some(libc::ELOOP),
                Some(libc::ELOOP),
                Some(libc::ELOOP),
                Some(libc::ELOOP),
                Some(libc::ENOTDIR),
                Some(libc::ENOTDIR),
                enoent,
                enoent,
                enoent,
                enoent,
            ]
        );
        let mut results = results.into_iter();
        assert_eq!(read_all(results.next().unwrap().unwrap()), "gamma\n");
        assert_eq!(read_all(results.next().unwrap().unwrap()), "gamma\n");
        drop(results);
        let settled = wait_until(Duration::from_secs(5), || {
            (broker.fd_count() <= baseline).then_some(())
        });
        assert!(settled.is_some(), "the broker kept a directory's fd");
    }
);

itest!(large_batches_are_split_and_pipelined, |tree| {
    let policy = setup(&tree);
    let broker = Broker::start(&tree, &policy);
    let baseline = broker.fd_count();
    let (a, b) = (tree.p("data/a.txt"), tree.p("data/b.txt"));
    let paths: Vec<String> = (0..2 * MAX_BATCH + 17)
        .map(|i| if i % 2 == 0 { a.clone() } else { b.clone() })
        .collect();
    let socket = broker.socket().to_owned();
    let (first, second) = within(Duration::from_secs(20), move || {
        let mut client = Client::connect(&socket).expect("connect");
        let all = client.open_many(&paths, Access::READ).expect("batch");
        client
            .submit_many(&paths[..3], Access::READ)
            .expect("submit");
        client
            .submit_many(&paths[3..4], Access::READ)
            .expect("submit");
        let first = client.receive_many().expect("first reply");
        let second = client.receive_many().expect("second reply");
        let texts: Vec<String> = all
            .into_iter()
            .map(|f| read_all(f.expect("open")))
            .collect();
        assert_eq!(texts.len(), 2 * MAX_BATCH + 17);
        for (i, text) in texts.iter().enumerate() {
            assert_eq!(
                text,
                if i % 2 == 0 { "alpha\n" } else { "beta\n" },
                "file {i}"
            );
        }
        client
            .ping()
            .expect("the connection is in step after pipelining");
        (first.len(), second.len())
    });
    assert_eq!((first, second), (3, 1));
    let settled = wait_until(Duration::from_secs(5), || {
        (broker.fd_count() <= baseline).then_some(())
    });
    assert!(
        settled.is_some(),
        "the broker still holds {} fds, {baseline} before",
        broker.fd_count()
    );
});

itest!(empty_and_oversized_batches_are_invalid, |tree| {
    let policy = setup(&tree);
    let broker = Broker::start(&tree, &policy);
    let conn = RawConn::connect(broker.socket()).expect("connect");
    let empty = Request::OpenMany {
        paths: Batch(vec![]),
        access: Access::READ,
        create_mode: 0,
    };
    assert_eq!(
        conn.request(&empty).error(),
        (ErrorKind::InvalidRequest, libc::EINVAL)
    );
    let path = tree.p("data/a.txt");
    let too_many = Request::OpenMany {
        paths: Batch(vec![path.as_bytes(); MAX_BATCH + 1]),
        access: Access::READ,
        create_mode: 0,
    };
    assert_eq!(
        conn.request(&too_many).error(),
        (ErrorKind::InvalidRequest, libc::EINVAL)
    );
    let full = Request::OpenMany {
        paths: Batch(vec![path.as_bytes(); MAX_BATCH]),
        access: Access::READ,
        create_mode: 0,
    };
    let reply = conn.request(&full);
    assert_eq!(
        reply.fds.len(),
        MAX_BATCH,
        "a full batch carries one fd per path"
    );
});

itest!(fdagent_cat_of_many_files, |tree| {
    let policy = setup(&tree);
    let broker = Broker::start(&tree, &policy);
    let mut args = vec!["cat".to_owned()];
    for i in 0..300 {
        args.push(tree.p(if i == 150 { "secret" } else { "data/a.txt" }));
    }
    let out = broker.fdagent(ALICE).args(&args).run();
    out.code_is(77).stderr_has(&format!(
        "{}: permission denied by the fdbroker policy",
        tree.p("secret")
    ));
    assert_eq!(out.stdout_str(), "alpha\n".repeat(299));
});

// With `--shadow-policy`, every decided path of a batch is compared on its own: one line
// per path the shadow decides differently, none for a path refused before any decision;
// the shadow grants nothing.
itest!(the_shadow_policy_compares_each_path_of_a_batch, |tree| {
    let policy = setup(&tree);
    // The shadow lets root read `secret`, and nothing else.
    let shadow = Policy::new()
        .allow("shadow-secret")
        .users(&[0])
        .paths(&[tree.p("secret")])
        .access("read");
    write_policy(&tree.path("shadow.toml"), &shadow.to_string());
    let shadowed = ["--shadow-policy", &tree.p("shadow.toml")];
    let broker = Broker::start_with(&tree, &policy, &shadowed);
    let paths = [
        tree.p("data/a.txt"),
        tree.p("secret"),
        "data/relative".to_owned(),
        tree.p("data/b.txt"),
    ];
    let socket = broker.socket().to_owned();
    let kinds = within(Duration::from_secs(10), move || {
        let mut client = Client::connect(&socket).expect("connect");
        let results = client.open_many(&paths, Access::READ).expect("batch");
        results.iter().map(kind_of).collect::<Vec<_>>()
    });
    assert_eq!(
        kinds,
        [
            None,
            Some(ErrorKind::Denied),
            Some(ErrorKind::InvalidRequest),
            None
        ]
    );
    let (pid, gid) = (std::process::id(), rustix::process::getgid().as_raw());
    let line = |would: &str, rel: &str, rule: &str| {
        format!(
            "shadow: would {would} op=open uid=0 gid={gid} pid={pid} access=read path=\"{}\" rule={rule}",
            tree.p(rel)
        )
    };
    let log = broker.wait_for_count("shadow: would ", 3);
    for expected in [
        line("deny", "data/a.txt", "-"),
        line("allow", "secret", "\"shadow-secret\""),
        line("deny", "data/b.txt", "-"),
    ] {
        assert!(log.contains(&expected), "no {expected:?} in\n{log}");
    }
    assert_eq!(log.matches("shadow: would ").count(), 3, "{log}");
});
