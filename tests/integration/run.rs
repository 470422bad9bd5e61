//! `fdagent run -- CMD`: unmodified programs (dynamic, static, threaded, forking) read
//! root-only files the policy grants, and everything else behaves exactly as without
//! `run`.

use std::time::Duration;

use crate::harness::{ALICE, Broker, Output, Policy, Tree, itest, tools_or_skip, wait_until};

const A: &[u8] = b"alpha, root-only\n";

/// `data/` (root, 0711: alice may enter it but list and read nothing) with `a.txt`, which
/// alice may read through the broker, and `secret`, which she may not.
fn setup(tree: &Tree) -> String {
    tree.private_file("data/a.txt", A);
    tree.private_file("data/secret", b"secret\n");
    tree.chmod("data", 0o711);
    Policy::new()
        .allow("alice-reads-a")
        .users(&[ALICE])
        .paths(&[tree.p("data/a.txt")])
        .access("read")
        .to_string()
}

/// `fdagent run -- ARGS` as alice.
fn run(broker: &Broker, args: &[&str]) -> Output {
    broker.fdagent(ALICE).arg("run").arg("--").args(args).run()
}

/// ARGS as alice, without `run`.
fn plain(tree: &Tree, args: &[&str]) -> Output {
    let (program, rest) = args.split_first().expect("a command");
    tree.cmd(std::path::Path::new(program))
        .user(ALICE)
        .args(rest.iter().copied())
        .run()
}

/// Asserts that `ours` (under `run`) and `theirs` (plain) exited alike and printed the
/// same bytes.
#[track_caller]
fn same(ours: &Output, theirs: &Output) {
    if ours.status != theirs.status || ours.stdout != theirs.stdout || ours.stderr != theirs.stderr
    {
        ours.fail(&format!(
            "differs from the same command without `run`:\n{theirs}"
        ));
    }
}

itest!(
    run_serves_cat_sha256sum_and_python_on_a_granted_root_only_file,
    |tree| {
        let policy = setup(&tree);
        let broker = Broker::start(&tree, &policy);
        let a = tree.p("data/a.txt");
        run(&broker, &["cat", &a])
            .code_is(0)
            .stdout_is(A)
            .no_stderr();
        let root_sum = tree.cmd("sha256sum".as_ref()).arg(&a).run();
        run(&broker, &["sha256sum", &a])
            .code_is(0)
            .stdout_is(&root_sum.stdout)
            .no_stderr();
        let script = format!("import sys; sys.stdout.write(open({a:?}).read())");
        run(&broker, &["python3", "-c", &script])
            .code_is(0)
            .stdout_is(A)
            .no_stderr();
        // The same file without `run`: refused by the kernel.
        plain(&tree, &["cat", &a])
            .code_is(1)
            .stderr_has("Permission denied");
    }
);

itest!(
    run_resolves_relative_paths_against_the_working_directory,
    |tree| {
        let policy = setup(&tree);
        let broker = Broker::start(&tree, &policy);
        let data = tree.p("data");
        run(
            &broker,
            &[
                "sh",
                "-c",
                &format!("cd {data} && cat a.txt ./a.txt ../data/a.txt"),
            ],
        )
        .code_is(0)
        .stdout_is([A, A, A].concat())
        .no_stderr();
    }
);

itest!(run_fails_on_ungranted_files_exactly_as_without_it, |tree| {
    let policy = setup(&tree);
    let broker = Broker::start(&tree, &policy);
    let secret = tree.p("data/secret");
    let missing = tree.p("data/missing");
    for args in [
        vec!["cat", secret.as_str()],
        vec!["cat", missing.as_str()],
        vec!["sha256sum", secret.as_str()],
        vec!["python3", "-c", &format!("open({secret:?})")],
    ] {
        let theirs = plain(&tree, &args);
        assert_ne!(theirs.code(), Some(0), "{theirs}");
        same(&run(&broker, &args), &theirs);
    }
    // Denied by the broker's policy, which the broker's log shows.
    broker.expect_log(&format!("path={secret:?}"));
});

itest!(
    run_changes_nothing_for_a_program_that_touches_no_granted_path,
    |tree| {
        let policy = setup(&tree);
        let broker = Broker::start(&tree, &policy);
        let script = "cat /etc/passwd; ls -l /usr/bin | head -n 20; cat /nonexistent; \
                  python3 -c 'import json, os; print(sorted(os.listdir(\"/\")))'; \
                  echo >/etc/passwd; exit 3";
        let args = ["sh", "-c", script];
        let theirs = plain(&tree, &args);
        theirs.code_is(3).stderr_has("Permission denied");
        same(&run(&broker, &args), &theirs);
        broker.assert_nothing_opened();
    }
);

itest!(run_serves_a_statically_linked_binary, |tree| {
    let cc = std::process::Command::new("cc")
        .arg("-print-file-name=libc.a")
        .output();
    let static_libc = cc.is_ok_and(|out| out.stdout.trim_ascii() != b"libc.a");
    if !tools_or_skip(
        "run::run_serves_a_statically_linked_binary",
        (!static_libc).then(|| "no cc with a static libc (libc6-dev)".to_owned()),
    ) {
        return;
    }
    let policy = setup(&tree);
    let broker = Broker::start(&tree, &policy);
    let source = tree.file(
        "bin/readall.c",
        br#"#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
/* Copies each file named to stdout; says why one cannot be opened. */
int main(int argc, char **argv) {
    int status = 0;
    for (int i = 1; i < argc; i++) {
        int fd = open(argv[i], O_RDONLY | O_CLOEXEC);
        if (fd < 0) { fprintf(stderr, "%s: %s\n", argv[i], strerror(errno)); status = 1; continue; }
        char buf[4096]; ssize_t n;
        while ((n = read(fd, buf, sizeof buf)) > 0) fwrite(buf, 1, n, stdout);
        close(fd);
    }
    return status;
}
"#,
        0o644,
    );
    let binary = tree.p("bin/readall");
    let built = std::process::Command::new("cc")
        .args(["-static", "-O2", "-o", &binary])
        .arg(&source)
        .output()
        .expect("run cc");
    assert!(built.status.success(), "cc -static: {built:?}");
    let a = tree.p("data/a.txt");
    let secret = tree.p("data/secret");
    let file = std::process::Command::new("file").arg(&binary).output();
    if let Ok(file) = file {
        let file = String::from_utf8_lossy(&file.stdout).into_owned();
        assert!(file.contains("statically linked"), "{file}");
    }
    run(&broker, &[&binary, &a])
        .code_is(0)
        .stdout_is(A)
        .no_stderr();
    same(
        &run(&broker, &[&binary, &secret]),
        &plain(&tree, &[&binary, &secret]),
    );
});

itest!(run_serves_the_threads_and_children_of_the_command, |tree| {
    let policy = setup(&tree);
    let broker = Broker::start(&tree, &policy);
    let a = tree.p("data/a.txt");
    // Eight threads opening at once, 25 times each.
    let threads = format!(
        "import threading\n\
         ok = []\n\
         def work():\n    for _ in range(25):\n        ok.append(open({a:?}).read() == {A:?})\n\
         ts = [threading.Thread(target=work) for _ in range(8)]\n\
         [t.start() for t in ts]; [t.join() for t in ts]\n\
         print(len(ok), all(ok))",
        A = String::from_utf8_lossy(A)
    );
    run(&broker, &["python3", "-c", &threads])
        .code_is(0)
        .stdout_is("200 True\n")
        .no_stderr();
    // A forked child, and a grandchild that execs.
    let forks = format!(
        "import os, subprocess\n\
         pid = os.fork()\n\
         if pid == 0:\n    print(open({a:?}).read(), end='', flush=True); os._exit(0)\n\
         os.waitpid(pid, 0)\n\
         subprocess.run(['sh', '-c', 'cat {a}'], check=True)"
    );
    run(&broker, &["python3", "-c", &forks])
        .code_is(0)
        .stdout_is([A, A].concat())
        .no_stderr();
});

itest!(
    run_honours_o_cloexec_and_the_exit_status_of_the_command,
    |tree| {
        let policy = setup(&tree);
        let broker = Broker::start(&tree, &policy);
        let a = tree.p("data/a.txt");
        // Through the C library: Python's own `os.open` always adds O_CLOEXEC.
        let script = format!(
            "import ctypes, os\n\
         libc = ctypes.CDLL(None)\n\
         a = libc.open({a:?}.encode(), os.O_RDONLY | os.O_CLOEXEC)\n\
         b = libc.open({a:?}.encode(), os.O_RDONLY)\n\
         print(os.get_inheritable(a), os.get_inheritable(b), os.read(b, 5), flush=True)\n\
         os.kill(os.getpid(), 15)"
        );
        // 128 + SIGTERM, as a shell reports a command a signal killed.
        run(&broker, &["python3", "-c", &script])
            .code_is(143)
            .stdout_is("False True b'alpha'\n");
        run(&broker, &["sh", "-c", "exit 7"]).code_is(7);
        run(&broker, &["/nonexistent/program"])
            .code_is(127)
            .stderr_has("/nonexistent/program");
    }
);

itest!(
    run_does_not_repeat_a_brokered_open_interrupted_by_signals,
    |tree| {
        let policy = setup(&tree);
        let broker = Broker::start(&tree, &policy);
        let a = tree.p("data/a.txt");
        // A signal every 50 µs, with a handler, while the command opens the file 300 times:
        // a call interrupted after the supervisor took it must not be opened twice.
        let script = format!(
            "import signal\n\
         hits = [0]\n\
         def tick(*_): hits[0] += 1\n\
         signal.signal(signal.SIGALRM, tick)\n\
         signal.setitimer(signal.ITIMER_REAL, 0.00005, 0.00005)\n\
         n = sum(open({a:?}).read() == {A:?} for _ in range(300))\n\
         signal.setitimer(signal.ITIMER_REAL, 0)\n\
         print(n, hits[0] > 0)",
            A = String::from_utf8_lossy(A)
        );
        run(&broker, &["python3", "-c", &script])
            .code_is(0)
            .stdout_is("300 True\n")
            .no_stderr();
        // Audit lines are written just after the reply: wait for all of them.
        let allowed = format!("allow op=open uid={} gid={}", ALICE.uid, ALICE.gid);
        let log = broker.wait_for_count(&allowed, 300);
        let opens = log.matches(&allowed).count();
        assert_eq!(
            opens, 300,
            "one brokered open per open of the command:\n{log}"
        );
    }
);

itest!(killing_the_supervisor_kills_the_command, |tree| {
    let policy = setup(&tree);
    let broker = Broker::start(&tree, &policy);
    tree.dir("out", 0o777);
    let ready = tree.p("out/ready");
    // Killed only once it runs (not while its loader opens libraries, which would fail).
    let script = format!("import time; open({ready:?}, 'w').close(); time.sleep(1000)");
    let mut supervisor = broker
        .fdagent(ALICE)
        .args(["run", "--", "python3", "-c", &script])
        .spawn();
    let children = format!("/proc/{0}/task/{0}/children", supervisor.id());
    let child: u32 = wait_until(Duration::from_secs(10), || {
        let text = std::fs::read_to_string(&children).ok()?;
        let child = text.split_whitespace().next()?.parse().ok()?;
        std::path::Path::new(&ready).exists().then_some(child)
    })
    .expect("the supervisor started the command");
    supervisor.kill().expect("kill the supervisor");
    supervisor.wait().expect("reap the supervisor");
    let gone = wait_until(Duration::from_secs(10), || {
        let stat = std::fs::read_to_string(format!("/proc/{child}/stat"));
        // Gone, or a zombie waiting for init.
        stat.map_or(Some(()), |s| s.contains(") Z ").then_some(()))
    });
    assert!(gone.is_some(), "the command outlived its supervisor");
});

itest!(run_keeps_serving_what_the_command_left_running, |tree| {
    let policy = setup(&tree);
    let broker = Broker::start(&tree, &policy);
    tree.dir("out", 0o777);
    let go = tree.fifo("out/go");
    tree.chmod("out/go", 0o666);
    let (a, copy) = (tree.p("data/a.txt"), tree.p("out/copy"));
    // The shell exits at once; its background job reads the granted file only later.
    let shell_pid = tree.p("out/shell-pid");
    let script = format!(
        "echo $$ > {shell_pid}; (read x < {}; cat {a} > {copy}) & exit 0",
        go.display()
    );
    let mut supervisor = broker
        .fdagent(ALICE)
        .args(["run", "--", "sh", "-c", &script])
        .spawn();
    wait_until(Duration::from_secs(10), || {
        let pid = std::fs::read_to_string(&shell_pid).ok()?;
        let pid = pid.trim();
        // Written whole, and then gone: exited and reaped by the supervisor.
        (!pid.is_empty() && !std::path::Path::new(&format!("/proc/{pid}")).exists()).then_some(())
    })
    .expect("the shell exited");
    assert!(
        supervisor.try_wait().expect("try_wait").is_none(),
        "the supervisor left with the shell"
    );
    std::fs::write(&go, "go\n").expect("write the fifo");
    let status = wait_until(Duration::from_secs(10), || {
        supervisor.try_wait().expect("try_wait")
    })
    .expect("the supervisor exits once the background job has");
    assert!(status.success(), "{status}");
    assert_eq!(tree.read("out/copy"), A);
});

itest!(
    run_creates_and_appends_through_the_broker_what_the_policy_grants,
    |tree| {
        tree.private_file("data/a.txt", A);
        tree.dir("data/out", 0o700);
        let policy = Policy::new()
            .allow("alice-writes-out")
            .users(&[ALICE])
            .paths(&[tree.p("data/out/**")])
            .access("write,create,create_new,truncate")
            .to_string();
        let broker = Broker::start(&tree, &policy);
        let new = tree.p("data/out/new");
        // `>` is O_WRONLY|O_CREAT|O_TRUNC, `>>` adds O_APPEND.
        let script = format!("echo one > {new} && echo two >> {new} && echo three >> {new}");
        let without = plain(&tree, &["sh", "-c", &script]);
        without.code_is(2).stderr_has("Permission denied");
        run(&broker, &["sh", "-c", &script]).code_is(0).no_stderr();
        assert_eq!(tree.read("data/out/new"), b"one\ntwo\nthree\n");
        let meta = std::fs::metadata(&new).expect("stat the created file");
        use std::os::unix::fs::MetadataExt;
        assert_eq!((meta.uid(), meta.mode() & 0o777), (ALICE.uid, 0o600));
        // creat(2); and O_CREAT|O_EXCL on a file that is there, which the broker refuses: the
        // call goes back to the kernel, which answers as without `run` (alice cannot even
        // search data/out).
        let script = format!(
            "import ctypes, os\n\
         libc = ctypes.CDLL(None, use_errno=True)\n\
         fd = libc.creat({made:?}.encode(), 0o644)\n\
         os.write(fd, b'made')\n\
         try:\n    os.open({new:?}, os.O_WRONLY | os.O_CREAT | os.O_EXCL)\n\
         except OSError as e:\n    print(e.strerror)",
            made = tree.p("data/out/made")
        );
        run(&broker, &["python3", "-c", &script])
            .code_is(0)
            .stdout_is("Permission denied\n");
        assert_eq!(tree.read("data/out/made"), b"made");
    }
);

itest!(
    run_serves_openat2_and_leaves_what_it_cannot_honour_to_the_kernel,
    |tree| {
        let policy = setup(&tree);
        let broker = Broker::start(&tree, &policy);
        let (a, data) = (tree.p("data/a.txt"), tree.p("data"));
        // openat2 without resolve flags is served; with RESOLVE_NO_SYMLINKS it is the kernel's
        // (EACCES). A path relative to a directory fd (here an O_PATH one) is served too.
        let script = format!(
            "import ctypes, os, struct\n\
         libc = ctypes.CDLL(None, use_errno=True)\n\
         def openat2(path, resolve):\n    \
             how = ctypes.create_string_buffer(struct.pack('QQQ', os.O_RDONLY, 0, resolve))\n    \
             fd = libc.syscall(437, -100, path.encode(), how, 24)\n    \
             return os.read(fd, 5) if fd >= 0 else os.strerror(ctypes.get_errno())\n\
         print(openat2({a:?}, 0), openat2({a:?}, 4))\n\
         d = os.open({data:?}, os.O_PATH)\n\
         print(os.read(os.open('a.txt', os.O_RDONLY, dir_fd=d), 5))"
        );
        run(&broker, &["python3", "-c", &script])
            .code_is(0)
            .stdout_is("b'alpha' Permission denied\nb'alpha'\n")
            .no_stderr();
    }
);

itest!(
    run_answers_stat_access_and_readlink_as_an_open_would,
    |tree| {
        // In a directory alice may not search: without `run`, even stat fails.
        tree.private_file("data/a.txt", A);
        tree.private_file("data/secret", b"secret\n");
        let policy = Policy::new()
            .allow("alice-reads-a")
            .users(&[ALICE])
            .paths(&[tree.p("data/a.txt")])
            .access("read")
            .to_string();
        let broker = Broker::start(&tree, &policy);
        let (a, secret) = (tree.p("data/a.txt"), tree.p("data/secret"));
        // stat(1) (statx), as root sees the file.
        let format = ["-c", "%s %u %a %F %i"];
        let as_root = tree.cmd("stat".as_ref()).args(format).arg(&a).run();
        run(&broker, &[&["stat"], &format[..], &[&a]].concat())
            .code_is(0)
            .stdout_is(&as_root.stdout)
            .no_stderr();
        // stat, lstat (newfstatat), access (faccessat): readable, not writable (the policy
        // grants read only); readlink of a regular file: EINVAL, as the kernel says it.
        let script = format!(
            "import os\n\
         print(os.stat({a:?}).st_size, os.lstat({a:?}).st_size, \
               os.access({a:?}, os.R_OK), os.access({a:?}, os.W_OK))\n\
         try:\n    os.readlink({a:?})\n\
         except OSError as e:\n    print(e.strerror)"
        );
        run(&broker, &["python3", "-c", &script])
            .code_is(0)
            .stdout_is(format!(
                "{} {} True False\nInvalid argument\n",
                A.len(),
                A.len()
            ))
            .no_stderr();
        run(
            &broker,
            &["sh", "-c", &format!("test -r {a} && echo readable")],
        )
        .code_is(0)
        .stdout_is("readable\n");
        // Tools that stat before they open: cp, and tar -c of one file.
        tree.dir("out", 0o777);
        let copy = tree.p("out/copy");
        run(&broker, &["cp", &a, &copy]).code_is(0).no_stderr();
        assert_eq!(tree.read("out/copy"), A);
        let tar = run(&broker, &["tar", "-cf", "-", &a]);
        tar.code_is(0);
        let listed = tree
            .cmd("tar".as_ref())
            .args(["-tvf", "-"])
            .stdin(&tar.stdout)
            .run();
        listed.code_is(0);
        assert!(listed.stdout_str().contains("root/root"), "{listed}");
        // Not granted: as without `run`.
        let check =
            format!("import os; print(os.access({secret:?}, os.R_OK)); os.stat({secret:?})");
        for args in [
            vec!["stat", secret.as_str()],
            vec!["python3", "-c", check.as_str()],
            vec!["sh", "-c", &format!("test -r {secret} || echo unreadable")],
        ] {
            same(&run(&broker, &args), &plain(&tree, &args));
        }
    }
);

/// `tree/` (root, 0700) with files two levels deep, which the policy lets alice read and
/// list, and `hidden/` (root, 0700), which it does not. Returns the policy.
fn setup_tree(tree: &Tree) -> String {
    tree.private_file("tree/top.txt", b"needle at the top\nhay\n");
    tree.private_file("tree/d1/one.txt", b"hay\nneedle one\n");
    tree.private_file("tree/d1/d2/two.txt", b"needle two\n");
    tree.private_file("tree/d1/d2/none.txt", b"only hay\n");
    tree.dir("tree/empty", 0o700);
    tree.private_file("hidden/h.txt", b"needle hidden\n");
    Policy::new()
        .allow("alice-walks-tree")
        .users(&[ALICE])
        .paths(&[format!("{}/**", tree.p("tree"))])
        .access("read,list")
        .to_string()
}

/// Stdout's lines, sorted: a walk's order is the directory's, which need not be stable.
fn sorted_lines(out: &Output) -> Vec<String> {
    let mut lines: Vec<String> = out.stdout_str().lines().map(str::to_owned).collect();
    lines.sort();
    lines
}

/// Asserts that `ours` (alice under `run`) printed the lines root's run printed, in any
/// order, with the same stderr and exit status.
#[track_caller]
fn same_walk(ours: &Output, roots: &Output) {
    if ours.status != roots.status
        || sorted_lines(ours) != sorted_lines(roots)
        || ours.stderr != roots.stderr
    {
        ours.fail(&format!("differs from root's run:\n{roots}"));
    }
}

/// ARGS as root, without `run`.
fn as_root(tree: &Tree, args: &[&str]) -> Output {
    let (program, rest) = args.split_first().expect("a command");
    tree.cmd(std::path::Path::new(program))
        .args(rest.iter().copied())
        .run()
}

itest!(run_walks_a_granted_tree_with_grep_r_as_root_does, |tree| {
    let policy = setup_tree(&tree);
    let broker = Broker::start(&tree, &policy);
    let dir = tree.p("tree");
    for args in [
        vec!["grep", "-r", "needle", dir.as_str()],
        vec!["grep", "-rl", "hay", dir.as_str()],
        vec!["grep", "-r", "absent", dir.as_str()],
    ] {
        let roots = as_root(&tree, &args);
        same_walk(&run(&broker, &args), &roots);
    }
    // Relative to the working directory, too.
    let relative = format!("cd {} && grep -r needle tree", tree.p(""));
    let args = ["sh", "-c", relative.as_str()];
    let roots = as_root(&tree, &args);
    roots.code_is(0);
    same_walk(&run(&broker, &args), &roots);
});

itest!(run_walks_a_granted_tree_with_find_as_root_does, |tree| {
    let policy = setup_tree(&tree);
    let broker = Broker::start(&tree, &policy);
    let dir = tree.p("tree");
    for args in [
        vec!["find", dir.as_str(), "-type", "f"],
        vec!["find", dir.as_str()],
        vec!["find", dir.as_str(), "-type", "d", "-empty"],
    ] {
        let roots = as_root(&tree, &args);
        roots.code_is(0);
        same_walk(&run(&broker, &args), &roots);
    }
});

itest!(run_archives_a_granted_tree_with_tar_as_root_does, |tree| {
    let policy = setup_tree(&tree);
    let broker = Broker::start(&tree, &policy);
    let listing = format!("tar -cf - {} | tar -tf -", tree.p("tree"));
    let args = ["sh", "-c", listing.as_str()];
    let roots = as_root(&tree, &args);
    roots.code_is(0);
    same_walk(&run(&broker, &args), &roots);
    // The archive holds the files' contents.
    let extract = format!(
        "tar -cf - {} | tar -xOf - --wildcards '*/two.txt'",
        tree.p("tree")
    );
    run(&broker, &["sh", "-c", &extract])
        .code_is(0)
        .stdout_is("needle two\n");
});

itest!(
    run_fails_on_an_ungranted_directory_exactly_as_without_it,
    |tree| {
        let policy = setup_tree(&tree);
        let broker = Broker::start(&tree, &policy);
        let hidden = tree.p("hidden");
        let inside = tree.p("hidden/h.txt");
        for args in [
            vec!["grep", "-r", "needle", hidden.as_str()],
            vec!["find", hidden.as_str(), "-type", "f"],
            vec!["tar", "-cf", "/dev/null", hidden.as_str()],
            vec!["ls", hidden.as_str()],
            vec!["cat", inside.as_str()],
        ] {
            let theirs = plain(&tree, &args);
            assert_ne!(theirs.code(), Some(0), "{theirs}");
            same(&run(&broker, &args), &theirs);
        }
    }
);

itest!(
    run_walks_a_granted_tree_named_with_a_trailing_slash,
    |tree| {
        let policy = setup_tree(&tree);
        let broker = Broker::start(&tree, &policy);
        let dir = format!("{}/", tree.p("tree"));
        let dot = format!("{}/.", tree.p("tree"));
        for args in [
            vec!["find", dir.as_str(), "-type", "f"],
            vec!["grep", "-r", "needle", dir.as_str()],
            vec!["find", dot.as_str(), "-type", "f"],
            vec!["ls", dir.as_str()],
        ] {
            let roots = as_root(&tree, &args);
            roots.code_is(0);
            same_walk(&run(&broker, &args), &roots);
        }
        // A file named as a directory is not one, as the kernel says.
        let file = format!("{}/", tree.p("tree/top.txt"));
        let args = ["cat", file.as_str()];
        same(&run(&broker, &args), &plain(&tree, &args));
    }
);
