//! Completions and the man page are generated from the clap definitions and cover every verb.

use assert_cmd::Command;

fn run(args: &[&str]) -> String {
    let out = Command::cargo_bin("denyctl").unwrap().args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn completions_cover_every_verb() {
    for shell in ["bash", "zsh", "fish"] {
        let script = run(&["completion", shell]);
        for verb in ["simulate", "explain", "completion"] {
            assert!(script.contains(verb), "{shell} completion lacks {verb}");
        }
        assert!(script.contains("--output") || script.contains("output"), "{shell}: no -o flag");
    }
}

#[test]
fn man_page_is_roff_with_every_verb() {
    let page = run(&["man"]);
    assert!(page.starts_with(".ie") || page.contains(".TH denyctl"), "not roff: {}", &page[..80.min(page.len())]);
    assert!(page.contains("simulate") && page.contains("explain"));
}

#[test]
fn every_verb_has_help_with_an_example() {
    let verbs: &[&[&str]] = &[
        &["simulate"], &["explain"], &["completion"], &["man"], &["whoami"], &["collect"], &["diagnose"], &["fix"],
        &["apply"], &["rollback"], &["replay"], &["demo"], &["plugin", "list"],
    ];
    for verb in verbs {
        let mut args = verb.to_vec();
        args.push("--help");
        let help = run(&args);
        assert!(help.contains("Example"), "{verb:?} --help has no example:\n{help}");
    }
}

#[test]
fn bad_shell_is_a_usage_error() {
    Command::cargo_bin("denyctl").unwrap().args(["completion", "tcsh"]).assert().code(2);
}
