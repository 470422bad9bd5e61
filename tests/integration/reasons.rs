//! A refused path's error, as `fdagent` prints it, names the broker's reason (the text its
//! audit line gives), for one path and for each path of a batch.

use crate::harness::{ALICE, Broker, Tree, alice_reads, itest};

/// `data/` with a readable file, a symbolic link to it, and a directory; the paths of the
/// three refusals with the reason each must print: the link, the directory, and a path
/// with a `..` component.
fn refusals(tree: &Tree) -> [(String, &'static str); 3] {
    tree.private_file("data/a.txt", b"alpha\n");
    tree.symlink("data/link", tree.path("data/a.txt"));
    tree.dir("data/dir", 0o755);
    [
        (
            tree.p("data/link"),
            "a component of the path is a symbolic link (Too many levels of symbolic links (os error 40))",
        ),
        (
            tree.p("data/dir"),
            "is a directory (ask for `list` access) (Is a directory (os error 21))",
        ),
        (
            tree.p("data/dir/../a.txt"),
            "path contains a `..` component (Invalid argument (os error 22))",
        ),
    ]
}

itest!(cat_of_one_refused_path_prints_the_brokers_reason, |tree| {
    let cases = refusals(&tree);
    let broker = Broker::start(&tree, &alice_reads(&tree));
    for (path, reason) in &cases {
        let out = broker.cat(ALICE, path);
        out.stderr_has(&format!("fdagent: {path}: {reason}\n"));
    }
});

itest!(cat_of_several_paths_prints_each_brokers_reason, |tree| {
    let cases = refusals(&tree);
    let broker = Broker::start(&tree, &alice_reads(&tree));
    let good = tree.p("data/a.txt");
    let mut args = vec!["cat".to_owned(), good.clone()];
    args.extend(cases.iter().map(|(path, _)| path.clone()));
    args.push(good);
    let out = broker.fdagent(ALICE).args(&args).run();
    out.stdout_is("alpha\nalpha\n");
    for (path, reason) in &cases {
        out.stderr_has(&format!("fdagent: {path}: {reason}\n"));
    }
});
