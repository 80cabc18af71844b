//! The client commands: each one call (or a few) to the running daemon's local API, found
//! through the data directory. Data goes to stdout (JSON with `--json`), errors to stderr.

use crate::Command;
use anyhow::{Context as _, Result, anyhow, bail};
use clap::Subcommand;
use me2b_node::config::DataDir;
use reqwest::{Method, StatusCode};
use serde_json::{Value as Json, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

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
    /// Import records from a JSON file: {"body.shoe_size_eu": 44, "profile.birthdate": "1990-05-17"}.
    Import {
        /// The file.
        file: PathBuf,
    },
}

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
    /// Check the hash chain, every signature, and that nothing was cut off.
    Verify,
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
        /// A field, PATH or PATH:optional (repeatable).
        #[arg(long = "field", value_name = "PATH", required = true)]
        fields: Vec<String>,
        /// E.g. personalised-offers, research.
        #[arg(long)]
        purpose: String,
        /// How long you keep the data, e.g. 30d.
        #[arg(long)]
        retention: String,
        /// `once` or `subscription:INTERVAL`.
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
    let Ok(http) = reqwest::Client::builder().timeout(Duration::from_secs(2)).build() else { return false };
    http.get(format!("http://{address}/healthz")).send().await.is_ok_and(|r| r.status().is_success())
}

impl Daemon {
    fn connect(data_dir: Option<PathBuf>) -> Result<Daemon> {
        let dir = DataDir::locate(data_dir)?;
        dir.config()?;
        let token = dir.token()?;
        let start = format!("start it with `me2b --data-dir {} daemon`", dir.root().display());
        let address = dir.api_address()?.ok_or_else(|| anyhow!("the daemon is not running; {start}"))?;
        let http = reqwest::Client::builder().timeout(CALL_TIMEOUT).build()?;
        Ok(Daemon { http, base: format!("http://{}", address.address), token, dir })
    }

    async fn call(&self, method: Method, path: &str, body: Option<Json>) -> Result<Json> {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|error| {
            if error.is_connect() {
                anyhow!(
                    "the daemon is not running (its address file {} is stale); start it with `me2b --data-dir {} daemon`",
                    self.dir.api_file().display(),
                    self.dir.root().display()
                )
            } else {
                anyhow!("the daemon did not answer: {error}")
            }
        })?;
        let status = response.status();
        let text = response.text().await?;
        let body: Json = serde_json::from_str(&text).unwrap_or(Json::String(text));
        if status.is_success() {
            return Ok(body);
        }
        let message = body.get("error").and_then(Json::as_str).map(str::to_owned).unwrap_or_else(|| body.to_string());
        match status {
            StatusCode::UNAUTHORIZED => bail!("the daemon refused the API token: {message}"),
            _ => bail!("{message}"),
        }
    }

    async fn get(&self, path: &str) -> Result<Json> {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Json) -> Result<Json> {
        self.call(Method::POST, path, Some(body)).await
    }
}

/// Runs a client command.
pub fn run(data_dir: Option<PathBuf>, json: bool, command: Command) -> Result<()> {
    let daemon = Daemon::connect(data_dir)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(execute(&daemon, json, command))
}

fn print_json(value: &Json) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Prints rows of columns, left-aligned, without borders.
fn table(header: &[&str], rows: Vec<Vec<String>>) {
    if rows.is_empty() {
        println!("(none)");
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
        println!("{}", padded.join("  ").trim_end());
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

/// How a command's answer is printed: the daemon's JSON as it came (`--json`), or for people.
#[derive(Clone, Copy)]
struct Printer {
    json: bool,
}

impl Printer {
    fn show(self, value: &Json, human: &dyn Fn(&Json)) -> Result<()> {
        if self.json {
            print_json(value)
        } else {
            human(value);
            Ok(())
        }
    }
}

async fn execute(daemon: &Daemon, json: bool, command: Command) -> Result<()> {
    let out = Printer { json };
    match command {
        Command::Status => status(daemon, out).await,
        Command::Data(data) => data_command(daemon, out, data).await,
        Command::Policy(_) | Command::Catalog(_) | Command::Subscribe { .. } | Command::Unsubscribe { .. } => {
            settings(daemon, out, command).await
        }
        Command::Intent(_)
        | Command::Requests
        | Command::Pending
        | Command::Approve { .. }
        | Command::Decline { .. } => negotiations(daemon, out, command).await,
        Command::Agreements { .. }
        | Command::Revoke { .. }
        | Command::Offers
        | Command::Ledger { .. }
        | Command::Export => records(daemon, out, command).await,
        Command::Campaign(_) | Command::Offer(_) | Command::Received | Command::Demand => {
            business(daemon, out, command).await
        }
        Command::Events => follow_events(daemon).await,
        Command::Init(_) | Command::Daemon(_) | Command::Demo { .. } | Command::Completions { .. } => {
            unreachable!("handled in main")
        }
    }
}

/// `status`: what the node is.
async fn status(daemon: &Daemon, out: Printer) -> Result<()> {
    let status = daemon.get("/v1/status").await?;
    out.show(&status, &|s| {
        for key in [
            "peer_id",
            "role",
            "name",
            "listen_addrs",
            "api",
            "connected_peers",
            "subscriptions",
            "records",
            "pending",
            "agreements",
            "outbox",
        ] {
            println!("{key:<16}{}", text(s, key));
        }
    })
}

/// `data ...`: the vault.
async fn data_command(daemon: &Daemon, out: Printer, data: DataCommand) -> Result<()> {
    match data {
        DataCommand::Set { path, value, device } => {
            let provenance = device.map(|d| format!("device:{d}"));
            let body = json!({"value": value_argument(&value), "provenance": provenance});
            let record = daemon.call(Method::PUT, &format!("/v1/data/{path}"), Some(body)).await?;
            out.show(&record, &|r| println!("{} = {}", text(r, "path"), r["value"]))
        }
        DataCommand::Get { path } => {
            let record = daemon.get(&format!("/v1/data/{path}")).await?;
            out.show(&record, &|r| println!("{}", r["value"]))
        }
        DataCommand::List => {
            let records = daemon.get("/v1/data").await?;
            out.show(&records, &|r| {
                let rows = r.as_array().map(|items| {
                    items.iter().map(|i| vec![text(i, "path"), i["value"].to_string(), text(i, "provenance")]).collect()
                });
                table(&["path", "value", "provenance"], rows.unwrap_or_default());
            })
        }
        DataCommand::Rm { path } => {
            let answer = daemon.call(Method::DELETE, &format!("/v1/data/{path}"), None).await?;
            out.show(&answer, &|_| println!("removed {path}"))
        }
        DataCommand::Import { file } => {
            let content = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let records: BTreeMap<String, Json> = serde_json::from_str(&content).with_context(|| {
                format!("{} is not a JSON object of path to value, e.g. {{\"body.shoe_size_eu\": 44}}", file.display())
            })?;
            let answer = daemon.post("/v1/data", json!({"records": records})).await?;
            out.show(&answer, &|a| println!("imported {} records", a["imported"]))
        }
    }
}

/// `policy`, `catalog`, `subscribe`, `unsubscribe`: what the agent works with.
async fn settings(daemon: &Daemon, out: Printer, command: Command) -> Result<()> {
    match command {
        Command::Policy(PolicyCommand::Show) => {
            let policy = daemon.get("/v1/policy").await?;
            out.show(&policy, &|p| match toml::to_string_pretty(p) {
                Ok(text) => print!("{text}"),
                Err(_) => println!("{p}"),
            })
        }
        Command::Policy(PolicyCommand::Set { file }) => {
            let document = read_document(&file, "see `me2b policy show` for the form")?;
            let policy = daemon.call(Method::PUT, "/v1/policy", Some(document)).await?;
            out.show(&policy, &|_| println!("policy replaced"))
        }
        Command::Catalog(CatalogCommand::Set { file }) => {
            let document = read_document(&file, "see `me2b catalog set --help` for the form")?;
            let answer = daemon.call(Method::PUT, "/v1/catalog", Some(document)).await?;
            out.show(&answer, &|a| println!("catalog replaced: {} items", a["items"]))
        }
        Command::Subscribe { categories } => {
            let now = daemon.post("/v1/subscriptions", json!({"categories": categories})).await?;
            out.show(&now, &|n| println!("following: {}", text(&json!({"c": n}), "c")))
        }
        Command::Unsubscribe { categories } => {
            let now = daemon.post("/v1/subscriptions", json!({"categories": categories, "unsubscribe": true})).await?;
            out.show(&now, &|n| println!("following: {}", text(&json!({"c": n}), "c")))
        }
        _ => unreachable!("dispatched by execute"),
    }
}

/// `intent publish`, `requests`, `pending`, `approve`, `decline`: requests and the owner's decisions.
async fn negotiations(daemon: &Daemon, out: Printer, command: Command) -> Result<()> {
    match command {
        Command::Intent(IntentCommand::Publish { category, spec, max_price, share, expires }) => {
            let spec = spec
                .iter()
                .map(|entry| {
                    entry
                        .split_once('=')
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .ok_or_else(|| anyhow!("--spec `{entry}` is not KEY=VALUE, e.g. --spec size_eu=44"))
                })
                .collect::<Result<BTreeMap<_, _>>>()?;
            let body = json!({"category": category, "spec": spec, "max_price": max_price, "shares": share, "expires": expires});
            let answer = daemon.post("/v1/intents", body).await?;
            out.show(&answer, &|a| println!("intent {} published", text(a, "id")))
        }
        Command::Requests => {
            let requests = daemon.get("/v1/requests").await?;
            out.show(&requests, &|r| {
                table(
                    &["id", "business_name", "category", "description"],
                    rows(r, &["id", "business_name", "category", "description"]),
                )
            })
        }
        Command::Pending => {
            let pending = daemon.get("/v1/pending").await?;
            out.show(&pending, &|p| {
                let Some(items) = p.as_array().filter(|items| !items.is_empty()) else {
                    println!("nothing waits for you");
                    return;
                };
                for item in items {
                    println!("{}  from {}  ({})", text(item, "id"), short(&text(item, "peer")), text(item, "category"));
                    if let Some(offer) = item["offer"].as_str() {
                        println!("  offer:         {offer}");
                    }
                    for line in terms_lines(&item["terms"]) {
                        println!("  {line}");
                    }
                }
                println!("approve with `me2b approve ID`, or decline with `me2b decline ID`");
            })
        }
        Command::Approve { id } => {
            let answer = daemon.post(&format!("/v1/pending/{id}/approve"), json!({})).await?;
            out.show(&answer, &|_| println!("approved {id}"))
        }
        Command::Decline { id } => {
            let answer = daemon.post(&format!("/v1/pending/{id}/decline"), json!({})).await?;
            out.show(&answer, &|_| println!("declined {id}"))
        }
        _ => unreachable!("dispatched by execute"),
    }
}

/// `agreements`, `revoke`, `offers`, `ledger`, `export`: what was agreed and what happened.
async fn records(daemon: &Daemon, out: Printer, command: Command) -> Result<()> {
    match command {
        Command::Agreements { show: None } => {
            let agreements = daemon.get("/v1/agreements").await?;
            out.show(&agreements, &|a| {
                let rows = a.as_array().map(|items| {
                    items
                        .iter()
                        .map(|i| {
                            vec![
                                text(i, "id"),
                                text(i, "state"),
                                short(&text(i, "business")),
                                text(&i["terms"], "purpose"),
                                text(&i["terms"], "fields"),
                            ]
                        })
                        .collect()
                });
                table(&["id", "state", "business", "purpose", "fields"], rows.unwrap_or_default());
            })
        }
        Command::Agreements { show: Some(AgreementsCommand::Show { id }) } => {
            let agreement = daemon.get(&format!("/v1/agreements/{id}")).await?;
            out.show(&agreement, &|a| {
                for key in [
                    "id",
                    "negotiation",
                    "state",
                    "person",
                    "business",
                    "context",
                    "deletion_receipt",
                    "last_package",
                    "offers",
                ] {
                    println!("{key:<17}{}", text(a, key));
                }
                for line in terms_lines(&a["terms"]) {
                    println!("{line}");
                }
            })
        }
        Command::Revoke { id, reason } => {
            let agreement = daemon.post(&format!("/v1/agreements/{id}/revoke"), json!({"reason": reason})).await?;
            out.show(&agreement, &|a| {
                println!("revoked {id}: now {}; the business must delete and send a receipt", text(a, "state"))
            })
        }
        Command::Offers => {
            let offers = daemon.get("/v1/offers").await?;
            out.show(&offers, &|o| {
                table(
                    &["offer_id", "agreement_id", "description", "price"],
                    rows(o, &["offer_id", "agreement_id", "description", "price"]),
                )
            })
        }
        Command::Ledger { verify: None } => {
            let entries = daemon.get("/v1/ledger").await?;
            out.show(&entries, &|e| {
                table(&["sequence", "kind", "subject", "fields"], rows(e, &["sequence", "kind", "subject", "fields"]))
            })
        }
        Command::Ledger { verify: Some(LedgerCommand::Verify) } => {
            let result = daemon.get("/v1/ledger/verify").await?;
            if out.json {
                print_json(&result)?;
            } else if result["valid"] == json!(true) {
                println!("ledger valid: {} entries, head {}", result["entries"], text(&result, "head"));
            }
            if result["valid"] != json!(true) {
                bail!("the ledger does not verify: {}", text(&result, "error"));
            }
            Ok(())
        }
        Command::Export => print_json(&daemon.get("/v1/export").await?),
        _ => unreachable!("dispatched by execute"),
    }
}

/// `campaign publish`, `offer send`, `received`, `demand`: a business's side.
async fn business(daemon: &Daemon, out: Printer, command: Command) -> Result<()> {
    match command {
        Command::Offer(OfferCommand::Send { agreement, description, price, valid_for }) => {
            let body =
                json!({"agreement_id": agreement, "description": description, "price": price, "valid_for": valid_for});
            let answer = daemon.post("/v1/offers", body).await?;
            out.show(&answer, &|a| println!("offer {} sent", text(a, "offer_id")))
        }
        Command::Campaign(CampaignCommand::Publish {
            category,
            fields,
            purpose,
            retention,
            usage,
            compensation,
            contact,
            description,
            expires,
        }) => {
            let body = json!({"category": category, "fields": fields, "purpose": purpose, "retention": retention,
                              "use": usage, "compensation": compensation, "contact": contact,
                              "description": description, "expires": expires});
            let answer = daemon.post("/v1/campaigns", body).await?;
            out.show(&answer, &|a| println!("request {} published on {category}", text(a, "id")))
        }
        Command::Received => {
            let received = daemon.get("/v1/received").await?;
            out.show(&received, &|r| {
                let mut rows = Vec::new();
                for agreement in r.as_array().into_iter().flatten() {
                    for (path, item) in agreement["items"].as_object().into_iter().flatten() {
                        let what = item.get("value").or_else(|| item.get("holds")).or_else(|| item.get("event"));
                        rows.push(vec![
                            text(agreement, "agreement_id"),
                            path.clone(),
                            what.map(Json::to_string).unwrap_or_default(),
                        ]);
                    }
                }
                table(&["agreement_id", "path", "value"], rows);
            })
        }
        Command::Demand => {
            let demand = daemon.get("/v1/demand").await?;
            out.show(&demand, &|d| table(&["category", "spec", "count"], rows(d, &["category", "spec", "count"])))
        }
        _ => unreachable!("dispatched by execute"),
    }
}

/// Reads a JSON or TOML file as JSON.
fn read_document(file: &std::path::Path, hint: &str) -> Result<Json> {
    let content = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    match serde_json::from_str(&content) {
        Ok(json) => Ok(json),
        Err(_) => {
            toml::from_str(&content).with_context(|| format!("{} is neither JSON nor TOML; {hint}", file.display()))
        }
    }
}

/// Prints each server-sent event's data line as it arrives.
async fn follow_events(daemon: &Daemon) -> Result<()> {
    let http = reqwest::Client::builder().build()?;
    let mut response = http.get(format!("{}/v1/events", daemon.base)).bearer_auth(&daemon.token).send().await?;
    if !response.status().is_success() {
        bail!("the daemon refused the event stream: {}", response.status());
    }
    let mut pending = String::new();
    while let Some(chunk) = response.chunk().await? {
        pending.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = pending.find('\n') {
            let line: String = pending.drain(..=end).collect();
            if let Some(data) = line.trim_end().strip_prefix("data: ") {
                println!("{data}");
            }
        }
    }
    Ok(())
}
