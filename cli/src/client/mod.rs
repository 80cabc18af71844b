//! The client commands: each one call (or a few) to the running daemon's local API, found
//! through the data directory. Data goes to stdout (JSON with `--json`), errors to stderr.
//! This module defines the subcommands and finds and calls the daemon (`Daemon`); `commands` says
//! what each command asks and prints.

/// `println!` for command output: a reader that goes away early (`me2b status | head`) ends
/// the program quietly instead of panicking on the broken pipe.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::client::write_out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` for command output, with [`say!`]'s handling of a closed pipe.
macro_rules! say_raw {
    ($($arg:tt)*) => {
        $crate::client::write_out(format_args!($($arg)*))
    };
}

mod commands;
pub use commands::verify_file;

use commands::execute;

use crate::Command;
use crate::exit::{ExitKind, fail, refused};
use anyhow::{Context as _, Result, anyhow, bail};
use clap::Subcommand;
use me2b_node::config::DataDir;
use reqwest::{Method, StatusCode};
use serde_json::{Value as Json, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Writes command output. A closed pipe means the reader has what it wanted: exit 0. Any
/// other failure to write is reported and exits 1.
pub(crate) fn write_out(text: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if let Err(error) = out.write_fmt(text).and_then(|()| out.flush()) {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write the output: {error}");
        std::process::exit(1);
    }
}

/// How long one API call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Set a record: a number, true/false, a YYYY-MM-DD date, or text.
    Set {
        /// E.g. body.shoe_size_eu.
        path: String,
        /// E.g. 44.
        value: String,
        /// Record it as reported by a device, e.g. --device watch.
        #[arg(long)]
        device: Option<String>,
    },
    /// Show one record.
    Get {
        /// E.g. body.shoe_size_eu.
        path: String,
    },
    /// List all records.
    List,
    /// Remove a record.
    Rm {
        /// E.g. body.shoe_size_eu.
        path: String,
    },
    /// Import a file: GPX or TCX activities, a FHIR R4 bundle (.json), an Apple Health
    /// export.xml, CSV with --map, a vCard (.vcf), or a JSON object of path to value
    /// ({"body.shoe_size_eu": 44}). One transaction; importing the same file again adds nothing.
    Import {
        /// The file.
        file: PathBuf,
        /// gpx, tcx, fhir, apple-health, csv, vcard or json (default: from the file's extension
        /// and, for .json, its content).
        #[arg(long)]
        format: Option<String>,
        /// CSV: which column goes to which vault path, e.g.
        /// --map distance_km=activity.running.distance_km,minutes=activity.running.duration_min
        #[arg(long)]
        map: Option<String>,
        /// CSV: the column with each row's date or time; rows become points of a series.
        #[arg(long)]
        time_column: Option<String>,
        /// CSV: the column that tags each point, e.g. the shoe a run was in.
        #[arg(long)]
        tag_column: Option<String>,
    },
}

/// How long an import may take, upload and storage together (hundreds of MiB).
const IMPORT_TIMEOUT: Duration = Duration::from_secs(3600);

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Show the policy.
    Show,
    /// Replace the policy with a TOML or JSON file (see `me2b policy show --json` for the form).
    Set {
        /// The file.
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum IntentCommand {
    /// Publish an intent.
    Publish {
        /// E.g. apparel.shoes.
        #[arg(long)]
        category: String,
        /// What you want, KEY=VALUE, e.g. --spec size_eu=44 (repeatable).
        #[arg(long, value_name = "KEY=VALUE")]
        spec: Vec<String>,
        /// The most you pay, e.g. "120 EUR".
        #[arg(long)]
        max_price: Option<String>,
        /// A field you would share for a better offer, PATH or PATH:optional (repeatable).
        #[arg(long, value_name = "PATH")]
        share: Vec<String>,
        /// How long it stands, e.g. 14d.
        #[arg(long)]
        expires: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AgreementsCommand {
    /// Show one agreement.
    Show {
        /// Its id.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Check the hash chain, every signature, that nothing was cut off, and every agreement's
    /// signatures and deletion receipt.
    Verify {
        /// Check an export (`me2b export > FILE`) instead, offline: no daemon, no network.
        #[arg(long, value_name = "FILE")]
        file: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum OfferCommand {
    /// Send an offer.
    Send {
        /// The agreement, from `me2b agreements`.
        #[arg(long)]
        agreement: String,
        /// What is offered.
        #[arg(long)]
        description: String,
        /// Its price, e.g. "88 EUR".
        #[arg(long)]
        price: String,
        /// How long it stands, e.g. 7d.
        #[arg(long)]
        valid_for: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Send a dead letter again.
    Retry {
        /// Its id, from `me2b webhooks`.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Replace the catalog with a TOML or JSON file of `[[items]]`, each with category, spec,
    /// description, price and the terms wanted (fields, purpose, retention, use,
    /// compensation, contact).
    Set {
        /// The file.
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum CampaignCommand {
    /// Publish a data request on gossip to everyone following its category.
    Publish {
        /// E.g. apparel.shoes.
        #[arg(long)]
        category: String,
        /// A field (repeatable): PATH, PATH:optional, or PATH:FACT for a yes/no derived fact
        /// instead of the value, e.g. "health.lab.hba1c_percent:max in last 365d > 6.5",
        /// "profile.birthdate:age in 40..=64", "health.conditions:has sct|44054006".
        #[arg(long = "field", value_name = "PATH", required = true)]
        fields: Vec<String>,
        /// E.g. personalised-offers, research.
        #[arg(long)]
        purpose: String,
        /// How long you keep the data, e.g. 30d.
        #[arg(long)]
        retention: String,
        /// `once`, `subscription:INTERVAL`, or `trigger:PATH:FACT:EVENT[:rearm FACT]`: only EVENT
        /// is sent, once, when FACT becomes true, e.g.
        /// "trigger:activity.running.distance_km:sum tagged pegasus-41 >= 700:replacement-due".
        #[arg(long = "use", default_value = "once")]
        usage: String,
        /// E.g. "10% discount", "5 EUR", none.
        #[arg(long)]
        compensation: Option<String>,
        /// Offers you may push, e.g. 1/30d.
        #[arg(long)]
        contact: Option<String>,
        /// What it is about.
        #[arg(long, default_value = "")]
        description: String,
        /// How long the request stands, e.g. 7d.
        #[arg(long)]
        expires: Option<String>,
    },
}

/// A connection to the daemon's API.
struct Daemon {
    http: reqwest::Client,
    base: String,
    token: String,
    dir: DataDir,
}

/// Whether an API answers at `address` (used to tell a running daemon from a stale file).
pub async fn answers(address: SocketAddr) -> bool {
    let Ok(http) = me2b_node::api::client().timeout(Duration::from_secs(2)).build() else { return false };
    http.get(format!("http://{address}/healthz")).send().await.is_ok_and(|r| r.status().is_success())
}

/// Asks the API at `found` to prove, by signing a fresh challenge, that it holds the key
/// `found` names; fails as "not running" otherwise.
pub async fn proves_identity(found: &me2b_node::config::ApiAddress) -> Result<()> {
    let stale = || {
        fail(
            ExitKind::NotRunning,
            format!(
                "the daemon is not running: what answers at {} cannot prove it is this node's (the token was not sent)",
                found.address
            ),
        )
    };
    let key: me2b_proto::identity::PublicKey = found.public_key.parse().map_err(|_| stale())?;
    let mut challenge = [0u8; 32];
    me2b_node::at_rest::random(&mut challenge)?;
    let http = me2b_node::api::client().timeout(Duration::from_secs(5)).build()?;
    let url = format!("http://{}/v1/identity?challenge={}", found.address, me2b_proto::identity::hex(&challenge));
    let response = http.get(url).send().await.map_err(|_| stale())?;
    if !response.status().is_success() {
        return Err(stale());
    }
    let proof: me2b_node::api::IdentityProof = response.json().await.map_err(|_| stale())?;
    let signature = me2b_proto::identity::unhex(&proof.signature)
        .and_then(|bytes| me2b_proto::identity::Signature::try_from(bytes.as_slice()).ok())
        .ok_or_else(stale)?;
    let message = me2b_node::api::identity_message(&challenge, found.address);
    if !key.verify(me2b_proto::identity::SignatureDomain::ApiIdentity, &message, &signature) {
        return Err(stale());
    }
    Ok(())
}

impl Daemon {
    /// Finds the daemon of `data_dir` and checks that it is this node's before any call
    /// carries the token: the API must sign a fresh challenge with the key `api.json` names.
    async fn connect(data_dir: Option<PathBuf>) -> Result<Daemon> {
        let dir = DataDir::locate(data_dir)?;
        dir.config().map_err(|e| fail(ExitKind::NotRunning, e.to_string()))?;
        let token = dir.token()?;
        let start = format!("start it with `me2b --data-dir {} daemon`", dir.root().display());
        let found = dir
            .api_address()
            .map_err(|e| fail(ExitKind::NotRunning, format!("{e}; {start}")))?
            .ok_or_else(|| fail(ExitKind::NotRunning, format!("the daemon is not running; {start}")))?;
        let http = me2b_node::api::client().timeout(CALL_TIMEOUT).build()?;
        proves_identity(&found).await.with_context(|| start.clone())?;
        Ok(Daemon { http, base: format!("http://{}", found.address), token, dir })
    }

    async fn call(&self, method: Method, path: &str, body: Option<Json>) -> Result<Json> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        Ok(self.send(request).await?.0)
    }

    /// Streams `file` to `path` with `query`, showing a progress bar of the bytes sent on a
    /// terminal.
    async fn upload(&self, path: &str, query: &[(&str, String)], file: &std::path::Path) -> Result<Json> {
        use futures::StreamExt as _;
        let opened = tokio::fs::File::open(file)
            .await
            .map_err(|e| fail(ExitKind::Data, format!("cannot read {}: {e}", file.display())))?;
        let size = opened.metadata().await.map(|m| m.len()).unwrap_or(0);
        let bar = indicatif::ProgressBar::with_draw_target(Some(size), indicatif::ProgressDrawTarget::stderr());
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg} {bar:30} {bytes}/{total_bytes} ({bytes_per_sec}, {eta})")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_message(format!("importing {}", file.display()));
        let sent = bar.clone();
        let chunks = tokio_util::io::ReaderStream::new(opened).inspect(move |chunk| {
            if let Ok(chunk) = chunk {
                sent.inc(chunk.len() as u64);
            }
        });
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .query(query)
            .timeout(IMPORT_TIMEOUT)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(reqwest::Body::wrap_stream(chunks));
        let answer = self.send(request).await;
        bar.finish_and_clear();
        Ok(answer?.0)
    }

    /// The raw bytes `path` answers (a backup), or the daemon's problem.
    async fn get_bytes(&self, path: &str) -> Result<Vec<u8>> {
        let response = self.respond(self.http.get(format!("{}{path}", self.base))).await?;
        let status = response.status();
        let bytes =
            response.bytes().await.map_err(|e| fail(ExitKind::Network, format!("the answer broke off: {e}")))?;
        if status.is_success() {
            return Ok(bytes.to_vec());
        }
        let body: Json = serde_json::from_slice(&bytes).unwrap_or(Json::Null);
        Err(problem_error(status, &body))
    }

    /// Sends `request` with the token and reads the JSON answer and the next page's path (from
    /// a `Link` header), or the daemon's problem as a [`crate::exit::Failure`].
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<(Json, Option<String>)> {
        let response = self.respond(request).await?;
        let status = response.status();
        let next = response
            .headers()
            .get(reqwest::header::LINK)
            .and_then(|value| value.to_str().ok())
            .and_then(next_link)
            .map(str::to_owned);
        let text = response.text().await.map_err(|e| fail(ExitKind::Network, format!("the answer broke off: {e}")))?;
        let body: Json = serde_json::from_str(&text).unwrap_or(Json::String(text));
        if status.is_success() {
            return Ok((body, next));
        }
        Err(problem_error(status, &body))
    }

    /// Sends `request` with the token; a daemon that cannot be reached is said as such.
    async fn respond(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response> {
        request.bearer_auth(&self.token).send().await.map_err(|error| {
            if error.is_connect() {
                fail(
                    ExitKind::NotRunning,
                    format!(
                        "the daemon is not running (its address file {} is stale); start it with `me2b --data-dir {} daemon`",
                        self.dir.api_file().display(),
                        self.dir.root().display()
                    ),
                )
            } else {
                fail(ExitKind::Network, format!("the daemon did not answer: {error}"))
            }
        })
    }

    async fn get(&self, path: &str) -> Result<Json> {
        self.call(Method::GET, path, None).await
    }

    /// Every item of a paginated list: follows the `Link` header page by page.
    async fn get_all(&self, path: &str) -> Result<Json> {
        let mut items = Vec::new();
        let mut next = Some(format!("{path}?limit={}", me2b_node::api::MAX_LIMIT));
        while let Some(page) = next.take() {
            let (body, link) = self.send(self.http.get(format!("{}{page}", self.base))).await?;
            match body {
                Json::Array(page) => items.extend(page),
                other => bail!("{path} answered something other than a list: {other}"),
            }
            next = link;
        }
        Ok(Json::Array(items))
    }

    async fn post(&self, path: &str, body: Json) -> Result<Json> {
        self.call(Method::POST, path, Some(body)).await
    }
}

/// The path of the `rel="next"` link in a `Link` header.
fn next_link(header: &str) -> Option<&str> {
    header.split(',').find(|link| link.contains("rel=\"next\"")).and_then(|link| {
        let start = link.find('<')? + 1;
        let end = link.find('>')?;
        link.get(start..end)
    })
}

/// The error for a problem document the daemon answered with `status`.
fn problem_error(status: StatusCode, body: &Json) -> anyhow::Error {
    let detail = body
        .get("detail")
        .and_then(Json::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| body.as_str().map(str::to_owned).unwrap_or_else(|| body.to_string()));
    let kind_name = body.get("type").and_then(Json::as_str).unwrap_or_default().to_owned();
    let problem = me2b_node::api::Problem::from_type(&kind_name);
    use me2b_node::api::Problem as P;
    let kind = match problem {
        Some(P::Network | P::Busy) => ExitKind::Network,
        Some(P::Unprocessable | P::TooLarge) => ExitKind::Data,
        Some(P::Internal) => ExitKind::Failed,
        Some(_) => ExitKind::Refused,
        None if status.is_server_error() => ExitKind::Failed,
        None => ExitKind::Refused,
    };
    let message = match problem {
        Some(P::Unauthorized) => format!("the daemon refused the API token: {detail}"),
        _ => detail,
    };
    refused(kind, kind_name, message)
}

/// Runs a client command.
pub fn run(data_dir: Option<PathBuf>, json: bool, command: Command) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let daemon = Daemon::connect(data_dir).await?;
        execute(&daemon, json, command).await
    })
}

fn print_json(value: &Json) -> Result<()> {
    say!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Prints rows of columns, left-aligned, without borders.
fn table(header: &[&str], rows: Vec<Vec<String>>) {
    if rows.is_empty() {
        say!("(none)");
        return;
    }
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        say!("{}", padded.join("  ").trim_end());
    };
    line(header.iter().map(|h| h.to_uppercase()).collect());
    for row in rows {
        line(row);
    }
}

fn text(value: &Json, key: &str) -> String {
    match &value[key] {
        Json::String(s) => s.clone(),
        Json::Null => String::new(),
        Json::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned).unwrap_or_else(|| i.to_string()))
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

fn rows(value: &Json, keys: &[&str]) -> Vec<Vec<String>> {
    value
        .as_array()
        .map(|items| items.iter().map(|item| keys.iter().map(|k| text(item, k)).collect()).collect())
        .unwrap_or_default()
}

fn short(key: &str) -> String {
    key.chars().take(12).collect()
}

/// Reads a command-line value as JSON: a number, true/false, else text (dates are text that
/// the daemon recognises).
fn value_argument(text: &str) -> Json {
    if let Ok(number) = text.parse::<f64>()
        && number.is_finite()
    {
        return json!(number);
    }
    match text {
        "true" => json!(true),
        "false" => json!(false),
        _ => json!(text),
    }
}

fn terms_lines(terms: &Json) -> Vec<String> {
    vec![
        format!("fields:        {}", text(terms, "fields")),
        format!("purpose:       {}", text(terms, "purpose")),
        format!("retention:     {}", text(terms, "retention")),
        format!("use:           {}", text(terms, "use")),
        format!("compensation:  {}", text(terms, "compensation")),
        format!("contact:       {}", text(terms, "contact")),
    ]
}
