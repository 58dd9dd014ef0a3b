//! Runs the real `vecgate` binary as a child process, the way a user would.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::Duration;

/// Builds the debug `vecgate` once per test process and returns its path.
pub fn vecgate_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| build("debug")).clone()
}

/// The optimized `vecgate`, for benchmarks.
pub fn vecgate_release_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| build("release")).clone()
}

fn build(profile: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "-q", "-p", "vecgate-edge", "--bin", "vecgate"])
        .current_dir(&root);
    if profile == "release" {
        cmd.arg("--release");
    }
    let status = cmd
        .status()
        .expect("run cargo build for the vecgate binary");
    assert!(status.success(), "cargo build of the vecgate binary failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let bin = target.join(profile).join("vecgate");
    assert!(bin.exists(), "{} missing after build", bin.display());
    bin
}

/// A running `vecgate serve`. Killed on drop.
pub struct Server {
    child: Child,
    pub base: String,
    /// Everything the process printed (stdout and stderr), for leak checks.
    output: mpsc::Receiver<String>,
    collected: Vec<String>,
}

impl Server {
    /// Starts `vecgate serve --addr 127.0.0.1:0 <args>` with `envs`, and waits until it listens.
    pub fn start(args: &[&str], envs: &[(&str, &str)]) -> Server {
        Server::start_bin(&vecgate_bin(), args, envs)
    }

    /// Like [`Server::start`], with the given binary.
    pub fn start_bin(bin: &std::path::Path, args: &[&str], envs: &[(&str, &str)]) -> Server {
        let mut server = Server::spawn_bin(bin, args, envs);
        server.wait_listening(Duration::from_secs(120));
        server
    }

    /// Starts `vecgate serve` as [`Server::start`] does, without waiting for it to listen:
    /// `base` is empty until [`Server::wait_listening`].
    pub fn spawn(args: &[&str], envs: &[(&str, &str)]) -> Server {
        Server::spawn_bin(&vecgate_bin(), args, envs)
    }

    fn spawn_bin(bin: &std::path::Path, args: &[&str], envs: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        // A developer's own VECGATE_* settings must not leak into tests.
        for (k, _) in std::env::vars() {
            if k.starts_with("VECGATE_")
                && k != "VECGATE_SAMPLE_DIR"
                && k != "VECGATE_MODEL_DIR"
                && !envs.iter().any(|(e, _)| *e == k)
            {
                cmd.env_remove(k);
            }
        }
        let mut child = cmd.spawn().expect("spawn vecgate serve");
        let (tx, rx) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        drop(tx);
        Server {
            child,
            base: String::new(),
            output: rx,
            collected: Vec::new(),
        }
    }

    /// Waits (up to `within`) for the "listening on" line and sets `base`; kills the process
    /// and panics with what it printed if it does not come.
    pub fn wait_listening(&mut self, within: Duration) {
        if !self.listening_within(within) {
            let _ = self.child.kill();
            let _ = self.child.wait();
            panic!(
                "vecgate serve did not start listening; it printed:\n{}",
                self.collected.join("\n")
            );
        }
    }

    /// Waits (up to `within`) for the "listening on" line and sets `base`; whether it came.
    pub fn listening_within(&mut self, within: Duration) -> bool {
        let listening = |line: &str| {
            line.split_once("listening on ")
                .map(|(_, rest)| rest.split_whitespace().next().unwrap_or("").to_owned())
        };
        if let Some(base) = self.collected.iter().find_map(|l| listening(l)) {
            self.base = base;
            return true;
        }
        let deadline = std::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.output.recv_timeout(left) {
                Ok(line) => {
                    let base = listening(&line);
                    self.collected.push(line);
                    if let Some(base) = base {
                        self.base = base;
                        return true;
                    }
                }
                Err(_) => return false,
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// All output so far.
    pub fn output(&mut self) -> String {
        while let Ok(line) = self.output.try_recv() {
            self.collected.push(line);
        }
        self.collected.join("\n")
    }

    /// All output so far, after waiting (up to 30 s) for `needle` to appear in it. The stdout
    /// and stderr reader threads may lag behind the "listening" line [`Server::start`] saw.
    pub fn output_containing(&mut self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let out = self.output();
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if out.contains(needle) || left.is_zero() {
                return out;
            }
            if let Ok(line) = self
                .output
                .recv_timeout(left.min(Duration::from_millis(200)))
            {
                self.collected.push(line);
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM (`kill -TERM`).
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {}", self.pid());
    }

    /// Waits up to `within` for the process to exit; its status, or `None` if it still runs.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, and wait for the process to be gone.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
