//! What each client command asks the daemon and how it prints the answer, by command group:
//! status, the vault, settings, negotiations, records (agreements, offers, ledger, export) and
//! a business's side. `execute` dispatches.

use super::*;

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

pub(super) async fn execute(daemon: &Daemon, json: bool, command: Command) -> Result<()> {
    let out = Printer { json };
    match command {
        Command::Status => status(daemon, out).await,
        Command::Id | Command::Peers | Command::Connect { .. } => network(daemon, out, command).await,
        Command::Businesses | Command::Petname { .. } => businesses(daemon, out, command).await,
        Command::Backup { out: path } => backup(daemon, out, &path).await,
        Command::DomainProof { domain } => domain_proof(daemon, domain).await,
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
        Command::Campaign(_) | Command::Offer(_) | Command::Received | Command::Demand | Command::Webhooks { .. } => {
            business(daemon, out, command).await
        }
        Command::Events { after } => follow_events(daemon, after).await,
        Command::Open { no_browser } => open(daemon, out, no_browser).await,
        Command::Init(_)
        | Command::Daemon(_)
        | Command::Demo { .. }
        | Command::Completions { .. }
        | Command::Man
        | Command::Config(_)
        | Command::RecoveryPhrase { .. }
        | Command::Restore(_)
        | Command::Doctor => unreachable!("handled in main"),
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
            say!("{key:<16}{}", text(s, key));
        }
    })
}

/// `id`, `peers`, `connect`: the node on the network.
async fn network(daemon: &Daemon, out: Printer, command: Command) -> Result<()> {
    match command {
        Command::Id => {
            let status = daemon.get("/v1/status").await?;
            let key: Option<me2b_proto::identity::PublicKey> = text(&status, "public_key").parse().ok();
            let id = json!({
                "peer_id": status["peer_id"],
                "public_key": status["public_key"],
                "fingerprint": key.map(|k| k.fingerprint()),
                "role": status["role"],
                "name": status["name"],
                "addresses": status["listen_addrs"].as_array().map(|addresses| addresses.iter()
                    .map(|a| format!("{}/p2p/{}", a.as_str().unwrap_or_default(), text(&status, "peer_id")))
                    .collect::<Vec<_>>()),
            });
            out.show(&id, &|i| {
                for key in ["peer_id", "public_key", "fingerprint", "role", "name"] {
                    say!("{key:<13}{}", text(i, key));
                }
                for address in i["addresses"].as_array().into_iter().flatten() {
                    say!("{:<13}{}", "address", address.as_str().unwrap_or_default());
                }
            })
        }
        Command::Peers => {
            let peers = daemon.get_all("/v1/peers").await?;
            out.show(&peers, &|p| table(&["peer_id"], rows(p, &["peer_id"])))
        }
        Command::Connect { address } => {
            let peer = daemon.post("/v1/peers", json!({"address": address})).await?;
            out.show(&peer, &|p| say!("connected to {}", text(p, "peer_id")))
        }
        _ => unreachable!("dispatched by execute"),
    }
}

/// `domain-proof`: the statement for a domain, as the file to serve (JSON, whatever `--json`).
async fn domain_proof(daemon: &Daemon, domain: Option<String>) -> Result<()> {
    let domain = match domain {
        Some(domain) => domain,
        None => {
            let website = daemon.dir.config()?.website.unwrap_or_default();
            me2b_node::domains::domain_of(&website).ok_or_else(|| {
                fail(
                    ExitKind::Usage,
                    "name the domain, or set the website first: `me2b config set website https://...`".to_owned(),
                )
            })?
        }
    };
    let statement = daemon.get(&format!("/v1/domain-proof?domain={domain}")).await?;
    say!("{}", serde_json::to_string_pretty(&statement)?);
    eprintln!("serve this as https://{domain}/.well-known/me2b.json");
    Ok(())
}

/// `backup`: the sealed backup, written readable by the owner only.
async fn backup(daemon: &Daemon, out: Printer, path: &std::path::Path) -> Result<()> {
    let sealed = daemon.get_bytes("/v1/backup").await?;
    me2b_node::key_file::write_private(path, &sealed)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    let written = json!({"file": path.display().to_string(), "bytes": sealed.len()});
    out.show(&written, &|_| {
        say!("backup written to {} ({} bytes)", path.display(), sealed.len());
        say!("it opens only with this node's recovery phrase (`me2b recovery-phrase`)");
    })
}

/// `businesses` and `petname`: whom the person met, and their own names for them.
async fn businesses(daemon: &Daemon, out: Printer, command: Command) -> Result<()> {
    let show = |b: &Json| {
        let name = match (b["petname"].as_str(), text(b, "name")) {
            (Some(petname), name) => format!("{petname} ({name})"),
            (None, name) => name,
        };
        let pinned = if b["pinned"] == true { "agreed" } else { "" };
        let warning = match b["impersonates"].as_str() {
            Some(pinned) => format!("WARNING: claims the name of the business you agreed with ({pinned})"),
            None => String::new(),
        };
        vec![name, text(b, "fingerprint"), pinned.to_owned(), warning, text(b, "key")]
    };
    match command {
        Command::Businesses => {
            let businesses = daemon.get_all("/v1/businesses").await?;
            out.show(&businesses, &|list| {
                let rows = list.as_array().into_iter().flatten().map(show).collect();
                table(&["name", "fingerprint", "pinned", "warning", "key"], rows);
            })
        }
        Command::Petname { key, name } => {
            let path = format!("/v1/businesses/{key}/petname");
            let business = daemon.post(&path, json!({"petname": name.unwrap_or_default()})).await?;
            out.show(&business, &|b| table(&["name", "fingerprint", "pinned", "warning", "key"], vec![show(b)]))
        }
        _ => unreachable!("dispatched by execute"),
    }
}

/// `open`: a one-time link into the web console, opened in a browser where there is one.
async fn open(daemon: &Daemon, out: Printer, no_browser: bool) -> Result<()> {
    let link = daemon.post("/v1/console/links", json!({})).await?;
    let url = text(&link, "url");
    out.show(&link, &|link| {
        say!("{url}");
        say!("(works once, for {} s; run `me2b open` again for another)", text(link, "expires_in_s"));
    })?;
    let graphical = std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some();
    if !no_browser && (graphical || cfg!(target_os = "macos")) {
        let opener = if cfg!(target_os = "macos") { "open" } else { "xdg-open" };
        // Best effort: the link is printed either way.
        let _ = std::process::Command::new(opener)
            .arg(&url)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
    }
    Ok(())
}

/// `data ...`: the vault.
async fn data_command(daemon: &Daemon, out: Printer, data: DataCommand) -> Result<()> {
    match data {
        DataCommand::Set { path, value, device } => {
            let provenance = device.map(|d| format!("device:{d}"));
            let body = json!({"value": value_argument(&value), "provenance": provenance});
            let record = daemon.call(Method::PUT, &format!("/v1/data/{path}"), Some(body)).await?;
            out.show(&record, &|r| say!("{} = {}", text(r, "path"), r["value"]))
        }
        DataCommand::Get { path } => {
            let record = daemon.get(&format!("/v1/data/{path}")).await?;
            out.show(&record, &|r| say!("{}", r["value"]))
        }
        DataCommand::List => {
            let records = daemon.get_all("/v1/data").await?;
            out.show(&records, &|r| {
                let rows = r.as_array().map(|items| {
                    items.iter().map(|i| vec![text(i, "path"), i["value"].to_string(), text(i, "provenance")]).collect()
                });
                table(&["path", "value", "provenance"], rows.unwrap_or_default());
            })
        }
        DataCommand::Rm { path } => {
            let answer = daemon.call(Method::DELETE, &format!("/v1/data/{path}"), None).await?;
            out.show(&answer, &|_| say!("removed {path}"))
        }
        DataCommand::Import { file, format, map, time_column, tag_column } => {
            let format = match format {
                Some(format) => format,
                None => import_format(&file, map.is_some())?,
            };
            if format == "json" {
                return import_records(daemon, out, &file).await;
            }
            let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let mut query = vec![("format", format), ("file", name)];
            let options = [("map", map), ("time_column", time_column), ("tag_column", tag_column)];
            query.extend(options.into_iter().filter_map(|(key, value)| Some((key, value?))));
            let report = daemon.upload("/v1/imports", &query, &file).await?;
            out.show(&report, &|r| {
                say!(
                    "imported {} ({}): {} entries; {} added, {} updated, {} duplicates, {} skipped, {} rejected",
                    text(r, "file"),
                    text(r, "format"),
                    r["entries"],
                    r["added"],
                    r["updated"],
                    r["duplicates"],
                    r["skipped"],
                    r["rejected_count"]
                );
                let listed = r["rejected"].as_array().map(Vec::as_slice).unwrap_or_default();
                for rejected in listed {
                    say!("  rejected at {}: {}", text(rejected, "position"), text(rejected, "reason"));
                }
                let more = r["rejected_count"].as_u64().unwrap_or(0).saturating_sub(listed.len() as u64);
                if more > 0 {
                    say!("  ... and {more} more");
                }
            })
        }
    }
}

/// The import format a file's name (and, for `.json`, its first bytes) suggests.
fn import_format(file: &std::path::Path, has_map: bool) -> Result<String> {
    let extension = file.extension().map(|e| e.to_string_lossy().to_lowercase()).unwrap_or_default();
    let format = match extension.as_str() {
        "gpx" => "gpx",
        "tcx" => "tcx",
        "xml" => "apple-health",
        "csv" => "csv",
        "vcf" | "vcard" => "vcard",
        "json" => {
            use std::io::Read as _;
            let mut head = Vec::new();
            std::fs::File::open(file)
                .and_then(|f| f.take(4096).read_to_end(&mut head))
                .with_context(|| format!("cannot read {}", file.display()))?;
            if String::from_utf8_lossy(&head).contains("\"resourceType\"") { "fhir" } else { "json" }
        }
        _ if has_map => "csv",
        _ => bail!(
            "cannot tell the format of {} from its name: add --format gpx, tcx, fhir, apple-health, csv, vcard or json",
            file.display()
        ),
    };
    Ok(format.to_owned())
}

/// Imports a JSON object of path to value, as one transaction.
async fn import_records(daemon: &Daemon, out: Printer, file: &std::path::Path) -> Result<()> {
    let content = read_file(file)?;
    let records: BTreeMap<String, Json> = serde_json::from_str(&content).map_err(|e| {
        fail(
            ExitKind::Data,
            format!(
                "{} is not a JSON object of path to value, e.g. {{\"body.shoe_size_eu\": 44}}: {e}",
                file.display()
            ),
        )
    })?;
    let answer = daemon.post("/v1/data", json!({"records": records})).await?;
    out.show(&answer, &|a| say!("imported {} records", a["count"]))
}

/// Where the node's policy lives: a person's and a business's are different documents.
async fn policy_path(daemon: &Daemon) -> Result<&'static str> {
    let status = daemon.get("/v1/status").await?;
    Ok(if status["role"] == "business" { "/v1/business/policy" } else { "/v1/policy" })
}

/// `policy`, `catalog`, `subscribe`, `unsubscribe`: what the agent works with.
async fn settings(daemon: &Daemon, out: Printer, command: Command) -> Result<()> {
    match command {
        Command::Policy(PolicyCommand::Show) => {
            let policy = daemon.get(policy_path(daemon).await?).await?;
            out.show(&policy, &|p| match toml::to_string_pretty(p) {
                Ok(text) => say_raw!("{text}"),
                Err(_) => say!("{p}"),
            })
        }
        Command::Policy(PolicyCommand::Set { file }) => {
            let document = read_document(&file, "see `me2b policy show` for the form")?;
            let policy = daemon.call(Method::PUT, policy_path(daemon).await?, Some(document)).await?;
            out.show(&policy, &|_| say!("policy replaced"))
        }
        Command::Catalog(CatalogCommand::Set { file }) => {
            let document = read_document(&file, "see `me2b catalog set --help` for the form")?;
            let answer = daemon.call(Method::PUT, "/v1/catalog", Some(document)).await?;
            out.show(&answer, &|a| say!("catalog replaced: {} items", a["count"]))
        }
        Command::Subscribe { categories } => {
            let now = daemon.post("/v1/subscriptions", json!({"categories": categories})).await?;
            out.show(&now, &|n| say!("following: {}", text(&json!({"c": n}), "c")))
        }
        Command::Unsubscribe { categories } => {
            let now = daemon.post("/v1/subscriptions", json!({"categories": categories, "unsubscribe": true})).await?;
            out.show(&now, &|n| say!("following: {}", text(&json!({"c": n}), "c")))
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
            out.show(&answer, &|a| say!("intent {} published", text(a, "id")))
        }
        Command::Requests => {
            let requests = daemon.get_all("/v1/requests").await?;
            out.show(&requests, &|r| {
                table(
                    &["id", "business_name", "category", "description"],
                    rows(r, &["id", "business_name", "category", "description"]),
                )
            })
        }
        Command::Pending => {
            let pending = daemon.get_all("/v1/pending").await?;
            out.show(&pending, &|p| {
                let Some(items) = p.as_array().filter(|items| !items.is_empty()) else {
                    say!("nothing waits for you");
                    return;
                };
                let (waiting, expired): (Vec<&Json>, Vec<&Json>) =
                    items.iter().partition(|item| item["state"] != "EXPIRED");
                for item in &expired {
                    say!(
                        "{}  from {}  ({}): expired before you decided; nothing was shared",
                        text(item, "id"),
                        short(&text(item, "peer")),
                        text(item, "category")
                    );
                }
                if waiting.is_empty() {
                    say!("nothing else waits for you");
                    return;
                }
                for item in waiting {
                    say!("{}  from {}  ({})", text(item, "id"), short(&text(item, "peer")), text(item, "category"));
                    if let Some(offer) = item["offer"].as_str() {
                        say!("  offer:         {offer}");
                    }
                    for line in terms_lines(&item["terms"]) {
                        say!("  {line}");
                    }
                }
                say!("approve with `me2b approve ID`, or decline with `me2b decline ID`");
            })
        }
        Command::Approve { id } => {
            let answer = daemon.post(&format!("/v1/pending/{id}/approve"), json!({})).await?;
            out.show(&answer, &|_| say!("approved {id}"))
        }
        Command::Decline { id } => {
            let answer = daemon.post(&format!("/v1/pending/{id}/decline"), json!({})).await?;
            out.show(&answer, &|_| say!("declined {id}"))
        }
        _ => unreachable!("dispatched by execute"),
    }
}

/// An agreement's state as shown: a revocation still waiting for its receipt says so.
fn state_of(agreement: &Json) -> String {
    match agreement["revocation"]["status"].as_str() {
        Some(status) => format!("{} ({status})", text(agreement, "state")),
        None => text(agreement, "state"),
    }
}

/// Where a revocation stands, in words, if one waits for its receipt.
fn revocation_line(agreement: &Json) -> Option<String> {
    let revocation = agreement.get("revocation").filter(|r| !r.is_null())?;
    let answers = revocation["answers"].as_u64().unwrap_or(0);
    Some(match revocation["reason"].as_str() {
        Some(reason) => format!(
            "not confirmed after {answers} answers: the business answered \"{reason}\"; still retried, \
             `me2b revoke` sends it again, `me2b export` holds the evidence"
        ),
        None => {
            format!(
                "{}, {answers} answers so far; waiting for the business's signed receipt",
                text(revocation, "status")
            )
        }
    })
}

/// `agreements`, `revoke`, `offers`, `ledger`, `export`: what was agreed and what happened.
async fn records(daemon: &Daemon, out: Printer, command: Command) -> Result<()> {
    match command {
        Command::Agreements { show: None } => {
            let agreements = daemon.get_all("/v1/agreements").await?;
            out.show(&agreements, &|a| {
                let rows = a.as_array().map(|items| {
                    items
                        .iter()
                        .map(|i| {
                            vec![
                                text(i, "id"),
                                state_of(i),
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
                    say!("{key:<17}{}", text(a, key));
                }
                if let Some(line) = revocation_line(a) {
                    say!("{:<17}{line}", "revocation");
                }
                for line in terms_lines(&a["terms"]) {
                    say!("{line}");
                }
            })
        }
        Command::Revoke { id, reason } => {
            let agreement = daemon.post(&format!("/v1/agreements/{id}/revoke"), json!({"reason": reason})).await?;
            out.show(&agreement, &|a| {
                say!(
                    "revoked {id}: now {}; nothing more is sent under it. The revocation is retried until the \
                     business's signed deletion receipt arrives (`me2b agreements show {id}` tells where it stands)",
                    state_of(a)
                )
            })
        }
        Command::Offers => {
            let offers = daemon.get_all("/v1/offers").await?;
            out.show(&offers, &|o| {
                table(
                    &["offer_id", "agreement_id", "description", "price"],
                    rows(o, &["offer_id", "agreement_id", "description", "price"]),
                )
            })
        }
        Command::Ledger { verify: None } => {
            let entries = daemon.get_all("/v1/ledger").await?;
            out.show(&entries, &|e| {
                table(&["sequence", "kind", "subject", "fields"], rows(e, &["sequence", "kind", "subject", "fields"]))
            })
        }
        Command::Ledger { verify: Some(LedgerCommand::Verify { .. }) } => {
            show_verification(&daemon.get("/v1/ledger/verify").await?, out.json)
        }
        Command::Export => print_json(&daemon.get("/v1/export").await?),
        _ => unreachable!("dispatched by execute"),
    }
}

/// `ledger verify --file EXPORT`: the same checks as the daemon's, on an export, offline.
pub fn verify_file(file: &std::path::Path, json: bool) -> Result<()> {
    let content = read_file(file)?;
    let export: Json = serde_json::from_str(&content).map_err(|e| {
        fail(ExitKind::Data, format!("{} is not JSON ({e}); write one with `me2b export > FILE`", file.display()))
    })?;
    let key: me2b_proto::identity::PublicKey = text(&export["node"], "public_key").parse().map_err(|_| {
        fail(ExitKind::Data, format!("{} has no node.public_key: is it a `me2b export`?", file.display()))
    })?;
    let entries = export["ledger_signed"]
        .as_array()
        .map(|entries| entries.iter().map(|e| e.as_str().and_then(me2b_proto::identity::unhex)).collect())
        .unwrap_or(Some(Vec::new()))
        .ok_or_else(|| fail(ExitKind::Data, "ledger_signed holds something that is not hex"))?;
    let evidence: Vec<me2b_proto::evidence::Evidence> = serde_json::from_value(export["evidence"].clone())
        .map_err(|e| fail(ExitKind::Data, format!("the export's evidence is malformed: {e}")))?;
    let report = me2b_proto::evidence::check_records(&key, &entries, None, &evidence);
    show_verification(&serde_json::to_value(&report)?, json)
}

/// Prints a verification report; fails (exit 1) when something does not hold.
fn show_verification(report: &Json, json: bool) -> Result<()> {
    if json {
        print_json(report)?;
    } else if report["valid"] == json!(true) {
        say!(
            "valid: {} ledger entries, {} agreements signed by both, {} signed deletion receipts",
            report["entries"],
            report["agreements"],
            report["receipts"]
        );
    }
    if report["valid"] != json!(true) {
        return Err(fail(ExitKind::Data, text(report, "error")));
    }
    Ok(())
}

/// `campaign publish`, `offer send`, `received`, `demand`: a business's side.
async fn business(daemon: &Daemon, out: Printer, command: Command) -> Result<()> {
    match command {
        Command::Offer(OfferCommand::Send { agreement, description, price, valid_for }) => {
            let body =
                json!({"agreement_id": agreement, "description": description, "price": price, "valid_for": valid_for});
            let answer = daemon.post("/v1/offers", body).await?;
            out.show(&answer, &|a| say!("offer {} sent", text(a, "id")))
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
            out.show(&answer, &|a| say!("request {} published on {category}", text(a, "id")))
        }
        Command::Received => {
            let received = daemon.get_all("/v1/received").await?;
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
            let demand = daemon.get_all("/v1/demand").await?;
            out.show(&demand, &|d| table(&["category", "spec", "count"], rows(d, &["category", "spec", "count"])))
        }
        Command::Webhooks { retry: None } => {
            let webhooks = daemon.get("/v1/webhooks").await?;
            out.show(&webhooks, &|w| {
                if w["url"].is_null() {
                    say!(
                        "no webhook set; set one with `me2b config set webhook_url http://...` and restart the daemon"
                    );
                    return;
                }
                say!("url            {}", text(w, "url"));
                say!("delivered      {}", text(w, "delivered"));
                say!("deletions due  {} (their receipts wait for the webhook)", text(w, "deletions_due"));
                say!("dead letters:");
                table(
                    &["id", "type", "attempts", "last_error"],
                    rows(&w["dead_letters"], &["id", "type", "attempts", "last_error"]),
                );
            })
        }
        Command::Webhooks { retry: Some(WebhooksCommand::Retry { id }) } => {
            daemon.post(&format!("/v1/webhooks/dead-letters/{id}/retry"), json!({})).await?;
            let queued = json!({"id": id, "queued": true});
            out.show(&queued, &|_| say!("{id} queued again"))
        }
        _ => unreachable!("dispatched by execute"),
    }
}

/// Reads a JSON or TOML file as JSON.
fn read_document(file: &std::path::Path, hint: &str) -> Result<Json> {
    let content = read_file(file)?;
    match serde_json::from_str(&content) {
        Ok(json) => Ok(json),
        Err(_) => toml::from_str(&content)
            .map_err(|e| fail(ExitKind::Data, format!("{} is neither JSON nor TOML ({e}); {hint}", file.display()))),
    }
}

/// A file's text, or a data error naming it.
fn read_file(file: &std::path::Path) -> Result<String> {
    std::fs::read_to_string(file).map_err(|e| fail(ExitKind::Data, format!("cannot read {}: {e}", file.display())))
}

/// Prints each event as one JSON line as it arrives, from after `after` if given. The stream
/// is read with a real SSE parser (events split across network chunks, multi-byte characters
/// cut in two, comments and keep-alives). The daemon ends the stream of a client that falls
/// too far behind; this one then reconnects with the last id it printed and goes on, so a
/// burst of events loses none (as long as each connection makes progress).
async fn follow_events(daemon: &Daemon, mut after: Option<u64>) -> Result<()> {
    use eventsource_stream::Eventsource as _;
    use futures::StreamExt as _;
    let http = me2b_node::api::client().build()?;
    let mut connected_before = false;
    loop {
        let mut request = http.get(format!("{}/v1/events", daemon.base)).bearer_auth(&daemon.token);
        if let Some(after) = after {
            request = request.header("Last-Event-ID", after.to_string());
        }
        let response = match request.send().await {
            Ok(response) => response,
            // The daemon stopped after a stream that ended: so does this one.
            Err(_) if connected_before => return Ok(()),
            Err(e) => return Err(fail(ExitKind::NotRunning, format!("the daemon did not answer: {e}"))),
        };
        if !response.status().is_success() {
            let status = response.status();
            let body: Json = response.json().await.unwrap_or(Json::Null);
            return Err(problem_error(status, &body));
        }
        connected_before = true;
        let mut progressed = false;
        let mut events = response.bytes_stream().eventsource();
        let mut broke = None;
        while let Some(event) = events.next().await {
            let event = match event {
                Ok(event) => event,
                Err(e) => {
                    broke = Some(e.to_string());
                    break;
                }
            };
            say!("{}", event.data);
            if let Ok(id) = event.id.parse::<u64>() {
                after = Some(id);
                progressed = true;
            }
        }
        if !progressed {
            return match broke {
                Some(e) => Err(fail(ExitKind::Network, format!("the event stream broke off: {e}"))),
                None => Ok(()),
            };
        }
    }
}
