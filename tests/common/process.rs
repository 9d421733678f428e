// SPDX-License-Identifier: GPL-2.0-only
//! Child processes: clean environments, output read by threads of its own
//! (so a child never blocks on a full pipe), and waits with deadlines.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// PATH for programs run with a clean environment.
pub const CLEAN_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How often the waits below look.
const POLL: Duration = Duration::from_millis(20);

/// `program ARGS` with a clean environment: PATH ([`CLEAN_PATH`]) and
/// LANG=C only.
pub fn clean_command(program: impl AsRef<OsStr>, args: &[&str]) -> Command {
    let mut c = Command::new(program);
    c.args(args)
        .env_clear()
        .env("PATH", CLEAN_PATH)
        .env("LANG", "C");
    c
}

/// The first file `name` in the directories of `path` (colon-separated,
/// like $PATH).
pub fn find_in(name: &str, path: impl AsRef<OsStr>) -> Option<PathBuf> {
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// `name` in this process's $PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    find_in(name, std::env::var_os("PATH").unwrap_or_default())
}

/// Waits for `child` to exit, for `limit` at most; None if it is still
/// running then (it is left running).
pub fn wait_deadline(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap_or_else(|e| panic!("wait: {e}")) {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        thread::sleep(POLL);
    }
}

/// [`wait_deadline`]; on a hang kills `child` and fails the test.
pub fn wait_or_kill(child: &mut Child, limit: Duration, what: &str) -> ExitStatus {
    match wait_deadline(child, limit) {
        Some(status) => status,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not exit within {limit:?}")
        }
    }
}

/// Sends `sig` to the process group `child` leads (it was spawned with
/// `process_group(0)`); an error (the group is gone) is ignored.
pub fn signal_group(child: &Child, sig: i32) {
    // SAFETY: kill(2) on the group the test created for the child.
    unsafe {
        libc::kill(-(child.id() as i32), sig);
    }
}

/// Reads `r` to its end on a thread of its own; the text, lossily UTF-8.
pub fn reader(mut r: impl Read + Send + 'static) -> JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// What a finished program printed.
pub struct Out {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn show(&self) -> String {
        format!(
            "status {}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.status, self.stdout, self.stderr
        )
    }

    /// Fails the test unless the program exited with status 0.
    pub fn ok(&self) -> &Self {
        assert!(self.status.success(), "failed: {}", self.show());
        self
    }
}

/// A running child whose stdout and stderr are read by [`reader`]s.
pub struct Captured {
    pub child: Child,
    out: JoinHandle<String>,
    err: JoinHandle<String>,
}

impl Captured {
    /// Spawns `cmd` with stdout and stderr piped to readers.
    pub fn spawn(cmd: &mut Command) -> Captured {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", cmd.get_program()));
        let out = reader(child.stdout.take().unwrap());
        let err = reader(child.stderr.take().unwrap());
        Captured { child, out, err }
    }

    /// [`wait_deadline`] on the child.
    pub fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        wait_deadline(&mut self.child, limit)
    }

    /// Kills the child (not its group) and reaps it.
    pub fn kill(&mut self) -> ExitStatus {
        let _ = self.child.kill();
        self.child.wait().unwrap_or_else(|e| panic!("wait: {e}"))
    }

    /// All it printed, once its output pipes have closed.
    pub fn output(self, status: ExitStatus) -> Out {
        Out {
            status,
            stdout: self.out.join().unwrap(),
            stderr: self.err.join().unwrap(),
        }
    }
}

/// Spawns `program ARGS` with stdin, stdout and stderr piped.
pub fn spawn_piped(program: impl AsRef<OsStr>, args: &[&str]) -> Child {
    let program = program.as_ref();
    Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program:?}: {e}"))
}

/// Runs `program ARGS` with `input` on stdin, collecting stdout and stderr.
pub fn run_with_input(program: impl AsRef<OsStr>, args: &[&str], input: &[u8]) -> Output {
    let mut child = spawn_piped(program, args);
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    // From a thread, so a child that writes a lot cannot deadlock us.
    let writer = thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

/// An [`Output`]'s stdout, lossily UTF-8.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An [`Output`]'s stderr, lossily UTF-8.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
