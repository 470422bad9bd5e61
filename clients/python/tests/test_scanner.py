"""The example scanner (examples/scanner.py) end to end: run as an unprivileged uid, it
walks root-only uploads through the broker and a real clamd (a private one the Rust test
starts, ``FDBROKER_TEST_CLAMD``) finds the EICAR files by the fds it is handed."""

import importlib.util
import io
import os

from conftest import as_user, policy, require

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
SCANNER = os.path.join(os.path.dirname(__file__), "..", "examples", "scanner.py")


def load_scanner():
    spec = importlib.util.spec_from_file_location("scanner", SCANNER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_scanner(scanner, args):
    out = io.StringIO()
    code = scanner.main(args, out)
    return code, out.getvalue()


def test_the_scanner_finds_eicar_through_the_broker(tree, users, start_broker):
    clamd = os.environ.get("FDBROKER_TEST_CLAMD")
    require("FDBROKER_TEST_CLAMD is not set (cargo test starts a private clamd)", clamd)
    allowed, _ = users
    tree.private_file("uploads/eicar.com", EICAR)
    tree.private_file("uploads/clean.txt", b"just text\n")
    tree.private_file("uploads/in/mail.eml", b"From: someone\n\nattached: " + EICAR)
    tree.private_file("uploads/held/h.txt", b"held back\n")
    tree.private_file(b"uploads/caf\xe9.txt", b"latin-1 name\n")
    tree.private_file("private/denied.txt", b"not for the scanner\n")
    tree.private_file("single/one.txt", b"a file named as a root\n")
    broker = start_broker(
        policy(
            ("scanner", [allowed.uid], [tree.p("uploads") + "/**", tree.p("single/one.txt")],
             "read,list", "allow"),
            ("held", ["*"], [tree.p("uploads/held") + "/**"], "read,list", "deny"),
        )
    )
    roots = [tree.p("uploads"), tree.p("private/denied.txt"), tree.p("single/one.txt")]
    args = ["--socket", broker.socket, "--clamd", clamd] + roots
    code, out = as_user(allowed, run_scanner, load_scanner(), args)
    denied = "error: permission denied by the fdbroker policy"
    # In walk order: the errors of the roots' batch and of the listings (the held one
    # fails), then the files as found: those listed in uploads, the root that is a file,
    # those listed in uploads/in. clamd names whichever EICAR signature matched first.
    expected = [
        "%s: %s" % (tree.p("private/denied.txt"), denied),
        "%s: %s" % (tree.p("uploads/held"), denied),
        "%s/caf\\xe9.txt: clean" % tree.p("uploads"),
        "%s: clean" % tree.p("uploads/clean.txt"),
        "%s: infected (Test.EICAR." % tree.p("uploads/eicar.com"),
        "%s: clean" % tree.p("single/one.txt"),
        "%s: infected (Test.EICAR.NDB.UNOFFICIAL)" % tree.p("uploads/in/mail.eml"),
        "done: 7 files, 2 infected, 2 errors",
    ]
    lines = out.splitlines()
    assert len(lines) == len(expected), out
    assert all(line.startswith(start) for line, start in zip(lines, expected)), out
    assert code == 1
