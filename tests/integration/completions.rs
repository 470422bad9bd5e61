//! The shell completions: `fdbroker completions DIR` and `fdagent completions DIR` write
//! each binary's bash, zsh and fish completions (the files the package installs), and bash
//! loads the bash one: it registers a completion for the binary that offers the visible
//! subcommands and not the hidden ones. None of this needs root.

use std::path::Path;

use crate::harness::itest;

/// The files `BIN completions DIR` writes, as packaging installs them.
fn files(bin: &str) -> [String; 3] {
    [
        format!("{bin}.bash"),
        format!("_{bin}"),
        format!("{bin}.fish"),
    ]
}

itest!(the_completions_command_writes_files_bash_loads, |tree| {
    let dir = tree.path("completions");
    for (bin, visible, hidden) in [
        ("fdbroker", "check", "resolve-names"),
        ("fdagent", "cat", "completions"),
    ] {
        let out = tree
            .cmd(&tree.bin(bin))
            .args(["completions", &tree.p("completions")])
            .run();
        out.code_is(0);
        let written: Vec<String> = files(bin)
            .iter()
            .map(|f| dir.join(f).display().to_string())
            .collect();
        assert_eq!(
            out.stdout_str().lines().collect::<Vec<_>>(),
            written,
            "{bin} completions prints each path written"
        );
        for file in &written {
            let text = std::fs::read_to_string(file).expect("a completion file");
            assert!(text.contains(bin), "{file} does not name {bin}");
        }
        let bash = dir.join(format!("{bin}.bash"));
        tree.cmd(Path::new("bash"))
            .arg("-n")
            .arg(&bash)
            .run()
            .code_is(0);
        // Loaded, it registers a function for the binary; asked to complete the first
        // word, that function offers the subcommands `--help` lists, not the hidden ones.
        let script = format!(
            "source {bash} && complete -p {bin} && \
             COMP_WORDS=({bin} '') COMP_CWORD=1 COMP_LINE='{bin} ' COMP_POINT=${{#COMP_LINE}} && \
             \"$(complete -p {bin} | sed -n 's/.*-F \\([^ ]*\\).*/\\1/p')\" {bin} '' {bin} && \
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            bash = bash.display()
        );
        let out = tree.cmd(Path::new("bash")).args(["-c", &script]).run();
        out.code_is(0);
        let stdout = out.stdout_str();
        let mut lines = stdout.lines();
        let registration = lines.next().unwrap_or_default();
        if !registration.starts_with("complete ") || !registration.ends_with(&format!(" {bin}")) {
            out.fail(&format!("no completion registered for {bin}"));
        }
        let offered: Vec<&str> = lines.collect();
        if !offered.contains(&visible) || offered.contains(&hidden) || offered.contains(&"man") {
            out.fail(&format!(
                "{bin}'s completion should offer {visible} and not {hidden} or man"
            ));
        }
    }
});
