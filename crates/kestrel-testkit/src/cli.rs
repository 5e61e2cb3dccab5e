//! `kestrel` on the command line: commands whose configuration comes only
//! from what a test passes, stdin fed, rule files in temporary folders.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// `kestrel` with no `KESTREL_…` variable of the test's environment: its
/// configuration comes only from what the test passes.
pub fn kestrel() -> Command {
    let mut c = Command::new(crate::bin());
    for (k, _) in std::env::vars() {
        if k.starts_with("KESTREL_") {
            c.env_remove(k);
        }
    }
    c
}

/// Runs `cmd` with `stdin` fed from a thread (so a large input cannot block
/// on a full output pipe, and a command that stops reading early does not
/// fail the test) and returns what it printed and its status.
pub fn run(mut cmd: Command, stdin: impl AsRef<[u8]>) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting kestrel");
    let mut input = child.stdin.take().unwrap();
    let data = stdin.as_ref().to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    out
}

/// Runs `cmd` to its end; it must exit 0, or the test fails naming `what`
/// with what the command printed on stderr.
pub fn output_ok(cmd: &mut Command, what: &str) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what} could not start: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}",
        out.status,
        text(&out.stderr)
    );
    out
}

/// Bytes as text, invalid UTF-8 replaced.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Writes each `(relative path, text)` below `dir`, making folders as
/// needed.
pub fn write_files<S: AsRef<str>>(dir: &Path, files: &[(&str, S)]) {
    for (name, text) in files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text.as_ref()).unwrap();
    }
}

/// Rule files (or any files) in a new temporary folder.
pub fn rules_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = crate::tempdir();
    write_files(dir.path(), files);
    dir
}

/// `kestrel scan --rules DIR EXTRA…` with `posts` on stdin: the alerts, what
/// it printed on stderr, and its exit code.
pub fn scan(rules: &Path, posts: &str, extra: &[&str]) -> (Vec<Value>, String, i32) {
    let mut c = kestrel();
    c.arg("scan").arg("--rules").arg(rules).args(extra);
    let out = run(c, posts);
    let alerts = String::from_utf8(out.stdout)
        .expect("alerts are UTF-8")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (
        alerts,
        String::from_utf8(out.stderr).expect("messages are UTF-8"),
        out.status.code().unwrap(),
    )
}
