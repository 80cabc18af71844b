//! # me2b-tests: end-to-end tests across real processes
//!
//! Each test starts real `me2b daemon` processes, each with its own data directory, on its own
//! 127.0.0.x address with port 0, and drives them only through the `me2b` CLI and the local
//! HTTP API. Waiting is on the daemon's event stream (`me2b events`, server-sent events) or
//! on its ready line, always with a bounded timeout; every process is killed when its handle
//! drops, so a failing test leaves nothing behind.
//!
//! The binary is `target/<profile>/me2b`, built once per test process (or `ME2B_BIN`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)]

pub mod browser;
pub mod examples;

use serde_json::Value as Json;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// How long any one wait may take.
pub const WAIT: Duration = Duration::from_secs(30);

/// The `me2b` binary, built on first use.
///
/// A debug build is `cargo build --workspace --tests --bins`: that is the selection
/// `cargo test --workspace` makes, so cargo resolves the same features for every dependency
/// and only links the binary. Building `-p me2b-cli` alone resolves five crates' features
/// differently (`syn`, `zerocopy`, ...), and that rebuilt about a hundred crates (all of
/// libp2p among them) a second time in every CI run. The price: a test run for one package
/// first builds the whole workspace's tests.
pub fn binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        if let Some(path) = std::env::var_os("ME2B_BIN") {
            return PathBuf::from(path);
        }
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace");
        // The same profile as the tests (a release run measures a release daemon). A release
        // run is one measurement (the load test), for which the whole workspace's tests in
        // release would cost many minutes: it builds the binary alone.
        let selection: &[&str] = if cfg!(debug_assertions) {
            &["--workspace", "--tests", "--bins"]
        } else {
            &["--release", "-p", "me2b-cli", "--bin", "me2b"]
        };
        let mut build = Command::new(cargo);
        // What cargo sets for a test (the package's directory and name, ...) is not this
        // build's to see: ring's build script reruns when CARGO_MANIFEST_DIR changes, and
        // every crate above it (all of libp2p) with it, each time the package differs.
        for (name, _) in std::env::vars_os() {
            let cargo_set_for_the_test = name.to_str().is_some_and(|name| {
                ["CARGO_PKG_", "CARGO_CRATE_", "CARGO_BIN_", "CARGO_MANIFEST_"].iter().any(|p| name.starts_with(p))
                    || name == "CARGO_TARGET_TMPDIR"
                    || name == "CARGO_PRIMARY_PACKAGE"
            });
            if cargo_set_for_the_test {
                build.env_remove(name);
            }
        }
        let status = build
            .args(["build", "--quiet", "--manifest-path"])
            .arg(workspace.join("Cargo.toml"))
            .args(selection)
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building me2b failed");
        // Tests run from target/<profile>/deps/.
        let exe = std::env::current_exe().expect("the test binary");
        exe.parent().and_then(Path::parent).expect("target/<profile>").join("me2b")
    })
}

/// A data directory and, while it runs, its daemon.
pub struct Node {
    /// The data directory.
    pub dir: TempDir,
    /// The loopback address it uses, e.g. `127.0.0.31`.
    pub ip: String,
    daemon: Option<Daemon>,
    events: Option<Events>,
    logs: Arc<Mutex<String>>,
}

struct Daemon {
    child: Option<Child>,
    peer_id: String,
    listen: String,
    api: SocketAddr,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The event stream of a daemon, through `me2b events`.
struct Events {
    child: Child,
    lines: Receiver<Json>,
}

impl Drop for Events {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    /// `me2b init --role ROLE --name NAME --no-passphrase` in a fresh directory.
    pub fn init(role: &str, name: &str, ip: &str) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let node = Node { dir, ip: ip.to_owned(), daemon: None, events: None, logs: Arc::default() };
        node.ok(&["init", "--role", role, "--name", name, "--no-passphrase"]);
        node
    }

    /// `me2b restore --no-passphrase` into a fresh directory, from the 24 words `phrase` and,
    /// if given, a backup file.
    pub fn restore(ip: &str, phrase: &str, backup: Option<&Path>) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let node = Node { dir, ip: ip.to_owned(), daemon: None, events: None, logs: Arc::default() };
        let mut phrase_file = tempfile::NamedTempFile::new().unwrap();
        phrase_file.write_all(phrase.as_bytes()).unwrap();
        let phrase_path = phrase_file.path().display().to_string();
        let mut args = vec!["restore", "--phrase-file", &phrase_path, "--no-passphrase"];
        let backup = backup.map(|path| path.display().to_string());
        if let Some(backup) = &backup {
            args.extend(["--backup", backup]);
        }
        node.ok(&args);
        node
    }

    /// Starts `me2b daemon` on this node's address (ports chosen by the system), bootstrapping
    /// from `bootstrap`, and waits for its ready line. It logs at debug level, which a failing
    /// test shows.
    pub fn start(&mut self, bootstrap: &[String]) {
        self.start_logging(bootstrap, Some("info,me2b=debug,me2b_node=debug,libp2p=warn"));
    }

    /// The same as [`Node::start`], logging at the daemon's default level (no `ME2B_LOG`), as
    /// a daemon in service does: for a test that measures its CPU time or memory.
    pub fn start_quiet(&mut self, bootstrap: &[String]) {
        self.start_logging(bootstrap, None);
    }

    /// `log` is `ME2B_LOG`; `None` leaves the daemon's default.
    fn start_logging(&mut self, bootstrap: &[String], log: Option<&str>) {
        let mut command = Command::new(binary());
        command
            .arg("--data-dir")
            .arg(self.dir.path())
            .args(["daemon", "--no-mdns", "--listen", &format!("/ip4/{}/tcp/0", self.ip)])
            .args(["--api", &format!("{}:0", self.ip)])
            .env_remove("ME2B_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(log) = log {
            command.env("ME2B_LOG", log);
        }
        for peer in bootstrap {
            command.args(["--bootstrap", peer]);
        }
        let mut child = command.spawn().expect("the daemon starts");
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let logs = Arc::clone(&self.logs);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[daemon] {line}");
                if let Ok(mut logs) = logs.lock() {
                    logs.push_str(&line);
                    logs.push('\n');
                }
            }
        });
        let (ready_tx, ready) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("me2b daemon ready:") {
                    let _ = ready_tx.send(line);
                }
            }
        });
        let line = match ready.recv_timeout(WAIT) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                panic!("the daemon in {} did not get ready within {WAIT:?}", self.dir.path().display());
            }
        };
        // me2b daemon ready: peer P listening on A[,B] API http://X
        let words: Vec<&str> = line.split_whitespace().collect();
        let after = |word: &str| words.iter().position(|w| *w == word).map(|i| words[i + 1].to_owned()).unwrap();
        let peer_id = after("peer");
        let listen = after("on").split(',').next().unwrap().to_owned();
        let api = after("API").trim_start_matches("http://").parse().unwrap();
        self.daemon = Some(Daemon { child: Some(child), peer_id, listen, api });
        self.events = None;
    }

    /// Kills the daemon with SIGKILL (no chance to clean up), at once: its event stream's
    /// client is stopped after, so that the kill lands when the caller chose.
    pub fn kill(&mut self) {
        self.daemon = None;
        self.events = None;
    }

    /// Stops the daemon with SIGTERM and waits for it to exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        self.events = None;
        let mut daemon = self.daemon.take().expect("a running daemon");
        let mut child = daemon.child.take().unwrap();
        let pid = child.id();
        let (exited, exit) = channel();
        std::thread::spawn(move || {
            let _ = exited.send(child.wait());
        });
        let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
        match exit.recv_timeout(WAIT) {
            Ok(status) => status.unwrap(),
            Err(_) => {
                let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
                panic!("the daemon did not stop on SIGTERM within {WAIT:?}");
            }
        }
    }

    /// The daemon's full address, ending in `/p2p/PEER_ID`.
    pub fn address(&self) -> String {
        let daemon = self.daemon.as_ref().expect("a running daemon");
        format!("{}/p2p/{}", daemon.listen, daemon.peer_id)
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.daemon.as_ref().and_then(|d| d.child.as_ref()).expect("a running daemon").id()
    }

    /// The daemon's API address.
    pub fn api(&self) -> SocketAddr {
        self.daemon.as_ref().expect("a running daemon").api
    }

    /// Everything the daemon has logged so far (all its runs).
    pub fn logs(&self) -> String {
        self.logs.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The API token from the data directory.
    pub fn token(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("api-token")).unwrap().trim().to_owned()
    }

    /// Runs `me2b --data-dir DIR ARGS...`.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(binary()).arg("--data-dir").arg(self.dir.path()).args(args).output().expect("me2b runs")
    }

    /// Runs a command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "`me2b {}` failed:\n{stderr}{stdout}", args.join(" "));
        stdout
    }

    /// Runs a command that must fail; returns its stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(!output.status.success(), "`me2b {}` should have failed", args.join(" "));
        String::from_utf8_lossy(&output.stderr).into_owned()
    }

    /// Runs a read command with `--json` and parses its output.
    pub fn json(&self, args: &[&str]) -> Json {
        let mut args = args.to_vec();
        args.push("--json");
        let stdout = self.ok(&args);
        serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("`me2b {}` gave no JSON ({e}): {stdout}", args.join(" ")))
    }

    /// Waits for an event of `kind` (e.g. `awaiting-owner`) that `matches`, from the daemon's
    /// event stream (which replays what happened since the daemon started), and returns it.
    pub fn wait_event(&mut self, kind: &str, matches: impl Fn(&Json) -> bool) -> Json {
        if self.events.is_none() {
            let mut child = Command::new(binary())
                .arg("--data-dir")
                .arg(self.dir.path())
                .arg("events")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("me2b events starts");
            let stdout = child.stdout.take().unwrap();
            let stderr = child.stderr.take().unwrap();
            std::thread::spawn(move || forward("events", stderr));
            let lines = json_lines(stdout, None);
            self.events = Some(Events { child, lines });
        }
        let events = self.events.as_ref().unwrap();
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match events.lines.recv_timeout(left) {
                Ok(event) if event["type"] == kind && matches(&event) => return event,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => panic!("no `{kind}` event within {WAIT:?}"),
                Err(RecvTimeoutError::Disconnected) => panic!("the event stream ended while waiting for `{kind}`"),
            }
        }
    }
}

/// The JSON values a child process writes one per line (other lines skipped), as they come;
/// with `echo`, each line is also shown under that name when a test fails.
pub fn json_lines(stream: impl Read + Send + 'static, echo: Option<&'static str>) -> Receiver<Json> {
    let (tx, lines) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if let Some(who) = echo {
                eprintln!("[{who}] {line}");
            }
            if let Ok(json) = serde_json::from_str(&line)
                && tx.send(json).is_err()
            {
                break;
            }
        }
    });
    lines
}

/// Shows a child's output, line by line under `who`, when a test fails.
pub fn forward(who: &'static str, stream: impl Read) {
    for line in BufReader::new(stream).lines().map_while(Result::ok) {
        // Shown only when a test fails (the test harness captures it otherwise).
        eprintln!("[{who}] {line}");
    }
}

/// An HTTP/1.1 answer.
#[derive(Debug)]
pub struct HttpAnswer {
    /// The status code.
    pub status: u16,
    /// The headers, lower-case names.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
}

/// Sends one raw HTTP/1.1 request (no client library, to see exactly what the API answers).
pub fn http(api: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> HttpAnswer {
    try_http(api, method, path, headers, "").unwrap()
}

/// Sends one raw HTTP/1.1 request with a body; an error if the daemon cannot be reached or
/// goes away before it answers (as when it is killed).
pub fn try_http(
    api: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<HttpAnswer> {
    let mut stream = TcpStream::connect(api)?;
    stream.set_read_timeout(Some(WAIT))?;
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {api}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        request.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes())?;
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes)?;
    // A binary body (a backup) is kept as text with its invalid bytes replaced.
    let answer = String::from_utf8_lossy(&bytes);
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|s| s.parse().ok()).unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok(HttpAnswer { status, headers, body: body.to_owned() })
}

/// A sample file under `examples/`, e.g. `runner/runs.csv`.
pub fn example(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples").join(path)
}

/// The shoe campaign of the issue's script.
pub const SHOE_CAMPAIGN: &[&str] = &[
    "campaign",
    "publish",
    "--category",
    "apparel.shoes",
    "--field",
    "body.shoe_size_eu",
    "--field",
    "activity.running_km:optional",
    "--purpose",
    "personalised-offers",
    "--retention",
    "30d",
    "--use",
    "once",
    "--compensation",
    "10% discount",
];

/// A shoe maker's catalog: one trail runner in EU 43 to 45, for the shoe size.
pub const SHOE_CATALOG: &str = r#"
[[items]]
category = "apparel.shoes"
spec = { size_eu = ["43", "44", "45"] }
description = "Trail runner"
price = "99 EUR"
fields = ["body.shoe_size_eu"]
purpose = "personalised-offers"
retention = "30d"
compensation = "10% discount"
"#;

/// A person following shoes with a shoe size, and a shoe maker, both running and connected.
pub fn person_and_shoe_maker(person_ip: &str, business_ip: &str) -> (Node, Node) {
    person_and_shoe_maker_with(person_ip, business_ip, |_| {})
}

/// [`person_and_shoe_maker`], with the shoe maker's data directory set up by `configure`
/// (e.g. `me2b config set ...`) before its daemon starts.
pub fn person_and_shoe_maker_with(person_ip: &str, business_ip: &str, configure: impl FnOnce(&Node)) -> (Node, Node) {
    let mut business = Node::init("business", "Stride", business_ip);
    configure(&business);
    business.start(&[]);
    let mut person = Node::init("person", "Ada", person_ip);
    person.start(&[business.address()]);
    person.ok(&["subscribe", "apparel.shoes"]);
    person.ok(&["data", "set", "body.shoe_size_eu", "44"]);
    // The person's subscription must reach the business before it publishes.
    business.wait_event("peer-subscribed", |e| e["topic"] == "me2b/v1/requests/apparel.shoes");
    (person, business)
}

/// Publishes the shoe campaign, approves it at the person's side, and returns the agreement
/// id once the business holds the data.
pub fn agree_on_shoes(person: &mut Node, business: &mut Node) -> String {
    business.ok(SHOE_CAMPAIGN);
    let pending = person.wait_event("awaiting-owner", |_| true);
    let negotiation = pending["negotiation_id"].as_str().unwrap().to_owned();
    person.ok(&["approve", &negotiation]);
    let received = business.wait_event("data-received", |_| true);
    received["agreement_id"].as_str().unwrap().to_owned()
}
