//! Signed webhooks: a business's own systems get what its node receives.
//!
//! **What is sent.** `POST` to the configured URL (`https://` with the system's roots and
//! those of `webhook_ca`, or `http://` on the business's own network; no redirects), a JSON body
//! `{"id", "type", "created_at_ms", "data"}` of one of these types:
//!
//! | type | when | data |
//! |---|---|---|
//! | `data.received` | a person's data arrived | `agreement_id`, `person`, `items` (values as held now; none once deleted) |
//! | `agreement.revoked` | the person revoked | `agreement_id` |
//! | `retention.expired` | the agreed retention ran out | `agreement_id` |
//! | `deletion.due` | the node deleted what it held; delete your copies, then answer 2xx | `agreement_id` |
//!
//! **Signature, as Stripe does it.** `Me2b-Signature: t=UNIX_SECONDS,v1=HEX`, where HEX is
//! HMAC-SHA256 with the data directory's `webhook-secret` (hex-decoded) over `t`, a `.`, and
//! the exact body. A receiver recomputes it, compares in constant time and refuses a `t` too
//! far from its clock. `Me2b-Webhook-Id` repeats the body's `id`: deliveries are at least once,
//! so a receiver drops an id it has seen.
//!
//! **Delivery.** One at a time, in the order of the node's events, each tried
//! `webhook_attempts` times (1 s, 2 s, 4 s ... apart, at most [`MAX_BACKOFF`]); a 2xx answer is
//! an acknowledgement. What still fails goes to the dead letters (at most
//! [`MAX_DEAD_LETTERS`], kept in `events/webhooks.dead`, sealed like the store since bodies
//! carry personal data, shown at
//! `GET /v1/webhooks`, retried with `POST /v1/webhooks/dead-letters/{id}/retry`). The
//! position in the event log is kept in `events/webhooks.cursor`, so a restart resumes where
//! it was (a delivery in flight at a crash is sent again).
//!
//! **Deletion covers the copies downstream.** With a webhook set, the engine holds each
//! deletion receipt ([`me2b_proto::engine::Event::DeletionDue`]); only the acknowledged
//! `deletion.due` releases it (`Command::ConfirmDeletion`). Which receipts are held is the
//! engine's durable state, not this module's: at start, and after any gap in the event log,
//! every held receipt is delivered again.

use super::events::{EventLog, Numbered};
use super::views::ReceivedView;
use crate::NodeHandle;
use crate::at_rest::SecretKey;
use hmac::{KeyInit, Mac};
use me2b_proto::engine::Command;
use me2b_proto::identity::AgreementId;
use serde::Serialize;
use serde_json::{Value as Json, json};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

/// Dead letters kept; the oldest goes when a new one comes.
pub const MAX_DEAD_LETTERS: usize = 256;
/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How long one attempt may take.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Events passed over (none to deliver) between two writes of the cursor.
const CURSOR_EVERY: u32 = 256;
/// Dead letters asked to be retried, waiting for the worker.
const MAX_RETRIES_QUEUED: usize = 64;

/// Where and how webhooks go.
#[derive(Clone)]
pub struct WebhookSettings {
    /// The receiver, `http://...`.
    pub url: String,
    /// The HMAC key.
    pub secret: Vec<u8>,
    /// Attempts per delivery.
    pub attempts: u32,
    /// Where the cursor and dead letters are kept.
    pub dir: PathBuf,
    /// Certificate authorities (PEM) trusted for an `https://` URL besides the system's.
    pub ca_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for WebhookSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSettings").field("url", &self.url).field("secret", &"..").finish()
    }
}

/// A delivery that failed every attempt.
#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct DeadLetter {
    /// The webhook's id (also in its body).
    pub id: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Attempts made.
    pub attempts: u32,
    /// What the last attempt got.
    pub last_error: String,
    /// When it was given up (ms since the epoch).
    pub failed_at_ms: u64,
    /// The body that was sent.
    #[schema(value_type = Object)]
    pub body: Json,
}

/// The webhook worker's state, for the API.
#[derive(Debug)]
pub struct Webhooks {
    settings: WebhookSettings,
    key: SecretKey,
    events: Arc<EventLog>,
    dead: Mutex<VecDeque<DeadLetter>>,
    delivered: Mutex<u64>,
    retry: mpsc::Sender<DeadLetter>,
}

/// What a delivery is about.
enum Delivery {
    /// A node event to pass on.
    Event { id: String, kind: &'static str, data: Json },
    /// A held receipt waits for this deletion to be confirmed downstream.
    Deletion(AgreementId),
}

impl Webhooks {
    /// Starts delivering `node`'s events from `events` to `settings.url`.
    pub fn start(node: NodeHandle, events: Arc<EventLog>, settings: WebhookSettings, key: SecretKey) -> Arc<Webhooks> {
        let dead = read_dead_letters(&settings.dir, &key);
        let (retry, retries) = mpsc::channel(MAX_RETRIES_QUEUED);
        let webhooks = Arc::new(Webhooks {
            settings,
            key,
            events: Arc::clone(&events),
            dead: Mutex::new(dead),
            delivered: Mutex::new(0),
            retry,
        });
        let worker = Arc::clone(&webhooks);
        tokio::spawn(async move { worker.run(node, events, retries).await });
        webhooks
    }

    /// The receiver's URL.
    pub fn url(&self) -> &str {
        &self.settings.url
    }

    /// Deliveries acknowledged since start.
    pub fn delivered(&self) -> u64 {
        self.delivered.lock().map(|n| *n).unwrap_or(0)
    }

    /// The dead letters, oldest first.
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.dead.lock().map(|dead| dead.iter().cloned().collect()).unwrap_or_default()
    }

    /// Takes dead letter `id` out of the list and hands it to the worker again. `false` if
    /// there is no such letter (or the worker's queue is full).
    pub fn retry(&self, id: &str) -> bool {
        let Ok(mut dead) = self.dead.lock() else { return false };
        let Some(position) = dead.iter().position(|letter| letter.id == id) else { return false };
        let Some(letter) = dead.remove(position) else { return false };
        match self.retry.try_send(letter) {
            Ok(()) => {
                write_dead_letters(&self.settings.dir, &self.key, &dead);
                true
            }
            Err(error) => {
                let letter = match error {
                    mpsc::error::TrySendError::Full(letter) | mpsc::error::TrySendError::Closed(letter) => letter,
                };
                dead.insert(position, letter);
                false
            }
        }
    }

    async fn run(self: Arc<Self>, node: NodeHandle, events: Arc<EventLog>, mut retries: mpsc::Receiver<DeadLetter>) {
        let http = match client(&self.settings) {
            Ok(http) => http,
            Err(error) => {
                tracing::error!(%error, "webhooks cannot start");
                return;
            }
        };
        self.deliver_held(&http, &node).await;
        // A webhook set just now starts with what happens from now on (and the held deletions).
        let mut cursor = read_cursor(&self.settings.dir).unwrap_or_else(|| events.last_id());
        write_cursor(&self.settings.dir, cursor);
        let mut unwritten = 0;
        loop {
            let (backlog, mut live) = events.since(Some(cursor));
            let mut queue: VecDeque<Numbered> = backlog.into();
            loop {
                let next = match queue.pop_front() {
                    Some(event) => Some(event),
                    None => tokio::select! {
                        biased;
                        Some(letter) = retries.recv() => {
                            self.redeliver(&http, &node, letter).await;
                            continue;
                        }
                        received = live.recv() => received.ok(),
                    },
                };
                // A closed or lagging stream: read again from the cursor.
                let Some((id, body)) = next else { break };
                if id <= cursor {
                    continue;
                }
                let delivered = if body["type"] == "gap" {
                    tracing::warn!(missed = %body["missed"], "webhooks fell behind the event backlog; held deletions are delivered again");
                    self.deliver_held(&http, &node).await;
                    true
                } else if let Some(delivery) = delivery_of(id, &body) {
                    self.deliver(&http, &node, delivery).await;
                    true
                } else {
                    false
                };
                cursor = id;
                // Kept after each delivery; past events that call for none (most: gossip,
                // connections) only now and then, so a busy node does not write a file per event.
                unwritten += 1;
                if delivered || unwritten >= CURSOR_EVERY {
                    write_cursor(&self.settings.dir, cursor);
                    unwritten = 0;
                }
            }
        }
    }

    /// Delivers `deletion.due` for every receipt the engine holds.
    async fn deliver_held(&self, http: &reqwest::Client, node: &NodeHandle) {
        let held: Vec<AgreementId> =
            node.read(|state| state.held_receipts.iter().copied().collect()).await.unwrap_or_default();
        for id in held {
            self.deliver(http, node, Delivery::Deletion(id)).await;
        }
    }

    async fn deliver(&self, http: &reqwest::Client, node: &NodeHandle, delivery: Delivery) {
        let (id, kind, data, deletion) = match delivery {
            Delivery::Event { id, kind, data } => {
                let data = with_values(node, kind, data).await;
                (id, kind, data, None)
            }
            Delivery::Deletion(agreement) => {
                let still_held =
                    node.read(move |state| state.held_receipts.contains(&agreement)).await.unwrap_or(false);
                if !still_held {
                    return;
                }
                let data = json!({"agreement_id": agreement.to_string()});
                (format!("deletion-{agreement}"), "deletion.due", data, Some(agreement))
            }
        };
        let body = json!({"id": id, "type": kind, "created_at_ms": now_ms(), "data": data});
        self.send(http, node, id, kind, body, deletion).await;
    }

    async fn redeliver(&self, http: &reqwest::Client, node: &NodeHandle, letter: DeadLetter) {
        let deletion = letter.body["data"]["agreement_id"]
            .as_str()
            .filter(|_| letter.kind == "deletion.due")
            .and_then(|id| id.parse::<AgreementId>().ok());
        let kind: &'static str = match letter.kind.as_str() {
            "data.received" => "data.received",
            "agreement.revoked" => "agreement.revoked",
            "retention.expired" => "retention.expired",
            _ => "deletion.due",
        };
        self.send(http, node, letter.id, kind, letter.body, deletion).await;
    }

    /// Posts `body` until it is acknowledged or the attempts run out; an acknowledged
    /// `deletion.due` releases the held receipt.
    async fn send(
        &self,
        http: &reqwest::Client,
        node: &NodeHandle,
        id: String,
        kind: &'static str,
        body: Json,
        deletion: Option<AgreementId>,
    ) {
        let text = body.to_string();
        let mut last_error = String::new();
        let attempts = self.settings.attempts.max(1);
        for attempt in 0..attempts {
            if attempt > 0 {
                let wait = Duration::from_secs(1u64 << (attempt - 1).min(16)).min(MAX_BACKOFF);
                tokio::time::sleep(wait).await;
            }
            let request = http
                .post(&self.settings.url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header("Me2b-Webhook-Id", &id)
                .header("Me2b-Signature", signature(&self.settings.secret, now_ms() / 1000, &text))
                .body(text.clone());
            match request.send().await {
                Ok(response) if response.status().is_success() => {
                    if let Ok(mut delivered) = self.delivered.lock() {
                        *delivered += 1;
                    }
                    if let Some(agreement) = deletion
                        && let Err(error) = node.command(Command::ConfirmDeletion(agreement)).await
                    {
                        tracing::warn!(%error, "a confirmed deletion could not release its receipt");
                    }
                    return;
                }
                Ok(response) => last_error = format!("answered {}", response.status()),
                Err(error) => last_error = format!("not reached: {error}"),
            }
            tracing::debug!(webhook = %id, attempt, error = %last_error, "webhook not acknowledged");
        }
        tracing::warn!(webhook = %id, kind, error = %last_error, "webhook given up: see GET /v1/webhooks");
        let note = json!({"webhook_id": id, "webhook_type": kind, "error": last_error});
        let letter = DeadLetter { id, kind: kind.to_owned(), attempts, last_error, failed_at_ms: now_ms(), body };
        if let Ok(mut dead) = self.dead.lock() {
            // The same delivery failing again (a held deletion after a restart) replaces its
            // letter.
            dead.retain(|kept| kept.id != letter.id);
            if dead.len() >= MAX_DEAD_LETTERS {
                dead.pop_front();
            }
            dead.push_back(letter);
            write_dead_letters(&self.settings.dir, &self.key, &dead);
        }
        self.events.note("webhook-failed", note);
    }
}

/// The HTTP client: TLS with the system's roots and `ca_pem`'s, a timeout per attempt, no
/// redirects (a receiver answers; it does not send the body elsewhere).
pub fn client(settings: &WebhookSettings) -> Result<reqwest::Client, reqwest::Error> {
    let mut builder = reqwest::Client::builder().timeout(ATTEMPT_TIMEOUT).redirect(reqwest::redirect::Policy::none());
    if let Some(pem) = &settings.ca_pem {
        for certificate in reqwest::Certificate::from_pem_bundle(pem)? {
            builder = builder.add_root_certificate(certificate);
        }
    }
    builder.build()
}

/// The delivery an event log entry calls for, if any.
fn delivery_of(id: u64, body: &Json) -> Option<Delivery> {
    let agreement = body["agreement_id"].as_str()?;
    let kind = match body["type"].as_str()? {
        "data-received" => "data.received",
        "agreement-revoked" => "agreement.revoked",
        "agreement-expired" => "retention.expired",
        "deletion-due" => return agreement.parse().ok().map(Delivery::Deletion),
        _ => return None,
    };
    Some(Delivery::Event { id: format!("event-{id}"), kind, data: json!({"agreement_id": agreement}) })
}

/// `data.received` carries what the node holds under the agreement now (nothing once it was
/// deleted: a late delivery never resurrects deleted data downstream).
async fn with_values(node: &NodeHandle, kind: &str, data: Json) -> Json {
    if kind != "data.received" {
        return data;
    }
    let Some(agreement) = data["agreement_id"].as_str().and_then(|id| id.parse::<AgreementId>().ok()) else {
        return data;
    };
    let view = node
        .read(move |state| {
            let person = state.agreements.get(&agreement).map(|r| r.agreement.person.to_string()).unwrap_or_default();
            state.received.get(&agreement).map(|items| ReceivedView::new(&agreement, person, items))
        })
        .await
        .ok()
        .flatten();
    match view.and_then(|view| serde_json::to_value(view).ok()) {
        Some(view) => view,
        None => json!({"agreement_id": agreement.to_string(), "items": {}, "deleted": true}),
    }
}

/// `t=SECONDS,v1=HEX`: HMAC-SHA256 with `secret` over `SECONDS.BODY`.
pub fn signature(secret: &[u8], seconds: u64, body: &str) -> String {
    let mut mac = match hmac::Hmac::<sha2::Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        // HMAC takes a key of any length; this cannot happen.
        Err(_) => return String::new(),
    };
    mac.update(seconds.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("t={seconds},v1={}", me2b_proto::identity::hex(&mac.finalize().into_bytes()))
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn read_cursor(dir: &Path) -> Option<u64> {
    std::fs::read_to_string(dir.join("webhooks.cursor")).ok().and_then(|t| t.trim().parse().ok())
}

/// Kept without fsync: a cursor lost in a power cut means some webhooks go again, which
/// receivers already expect (at least once).
fn write_cursor(dir: &Path, cursor: u64) {
    let temporary = dir.join("webhooks.cursor.tmp");
    let written = std::fs::write(&temporary, cursor.to_string())
        .and_then(|()| std::fs::rename(&temporary, dir.join("webhooks.cursor")));
    if let Err(error) = written {
        tracing::warn!(%error, "cannot keep the webhook cursor");
    }
}

/// What binds the sealed dead letters to their file.
const DEAD_CONTEXT: &[u8] = b"me2b webhooks.dead";

fn read_dead_letters(dir: &Path, key: &SecretKey) -> VecDeque<DeadLetter> {
    std::fs::read(dir.join("webhooks.dead"))
        .ok()
        .and_then(|sealed| key.open(&sealed, DEAD_CONTEXT).ok())
        .and_then(|bytes| serde_json::from_slice::<VecDeque<DeadLetter>>(&bytes).ok())
        .map(|mut dead| {
            while dead.len() > MAX_DEAD_LETTERS {
                dead.pop_front();
            }
            dead
        })
        .unwrap_or_default()
}

fn write_dead_letters(dir: &Path, key: &SecretKey, dead: &VecDeque<DeadLetter>) {
    let temporary = dir.join("webhooks.dead.tmp");
    let written = serde_json::to_vec(dead)
        .map_err(std::io::Error::other)
        .and_then(|bytes| key.seal(&bytes, DEAD_CONTEXT).map_err(std::io::Error::other))
        .and_then(|sealed| std::fs::write(&temporary, sealed))
        .and_then(|()| std::fs::rename(&temporary, dir.join("webhooks.dead")));
    if let Err(error) = written {
        tracing::warn!(%error, "cannot keep the webhook dead letters");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_over_time_dot_body() {
        // RFC 4231 test case 2's key and a fixed body, computed independently with Python's
        // hmac module: hmac.new(b"Jefe", b"1700000000.{}", "sha256").hexdigest()
        let signed = signature(b"Jefe", 1_700_000_000, "{}");
        assert_eq!(signed, "t=1700000000,v1=d3793e2b4103edfbd98cc19591832f5fad701d413db9fcae0ae7dab8184ed207");
    }
}
