//! The owner's event stream: every node event gets an id one greater than the last, is kept
//! in a bounded backlog (so that a client reconnecting with `Last-Event-ID` gets exactly what
//! it missed) and is counted for `/metrics`.
//!
//! **Ids survive restarts.** With a directory, the log keeps two files there: `events.jsonl`,
//! the backlog (one event a line, each sealed with a key derived from the store's data key,
//! since events tell whom the owner dealt with; appended, compacted to the last
//! [`KEPT_EVENTS`] once it holds twice that), and `events.next`, a high-water mark reserved [`RESERVE`] ids ahead and
//! written with fsync before any id past the old mark is used. A restart, even after kill -9
//! or a power cut that lost the backlog's tail, continues above every id ever sent, and a
//! client's `Last-Event-ID` from before the restart resumes where it was. A client further
//! behind than the backlog first gets a `gap` event with how many ids it can no longer get
//! (at most that many events: ids skipped by a power cut count too).

use crate::NodeEvent;
use crate::at_rest::SecretKey;
use me2b_proto::engine::Event;
use serde_json::json;
use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// Events kept for clients that reconnect.
pub const KEPT_EVENTS: usize = 1024;
/// Ids reserved on disk at a time: one fsync per this many events.
pub const RESERVE: u64 = 1024;
/// The longest line the backlog file may hold; longer ones are skipped when it is read.
const MAX_LINE: usize = 64 * 1024;

/// An event's id and JSON body.
pub type Numbered = (u64, Arc<serde_json::Value>);

/// The event log's files could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("event log {path}: {source}")]
pub struct EventLogError {
    path: String,
    source: std::io::Error,
}

/// The numbered events and their counts.
#[derive(Debug)]
pub struct EventLog {
    inner: Mutex<Inner>,
    live: broadcast::Sender<Numbered>,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    kept: VecDeque<Numbered>,
    counts: BTreeMap<&'static str, u64>,
    disk: Option<Disk>,
}

/// What binds a sealed backlog line to this file.
const LINE_CONTEXT: &[u8] = b"me2b events.jsonl";

/// The log's two files.
#[derive(Debug)]
struct Disk {
    dir: PathBuf,
    key: SecretKey,
    /// Ids below this are reserved on disk.
    reserved_until: u64,
    backlog: File,
    lines: usize,
}

impl Disk {
    fn backlog_path(dir: &Path) -> PathBuf {
        dir.join("events.jsonl")
    }

    fn mark_path(dir: &Path) -> PathBuf {
        dir.join("events.next")
    }

    /// Writes the high-water mark `until` durably (temporary file, fsync, rename).
    fn reserve(dir: &Path, until: u64) -> Result<(), EventLogError> {
        let path = Disk::mark_path(dir);
        let temporary = dir.join("events.next.tmp");
        let io = |source| EventLogError { path: path.display().to_string(), source };
        let mut file = File::create(&temporary).map_err(io)?;
        file.write_all(until.to_string().as_bytes()).and_then(|()| file.sync_all()).map_err(io)?;
        std::fs::rename(&temporary, &path).map_err(io)?;
        File::open(dir).and_then(|d| d.sync_all()).map_err(io)
    }

    /// Keeps only `kept` in the backlog file, sealed afresh: what the log read at start,
    /// without the lines that did not open.
    fn compact(&mut self, kept: &VecDeque<Numbered>) -> Result<(), EventLogError> {
        let mut text = String::new();
        for (_, body) in kept {
            text.push_str(&seal_line(&self.key, body));
        }
        self.replace(text.as_bytes(), kept.len())
    }

    /// Keeps only the backlog's last `count` lines: while the log runs, those are the kept
    /// events, copied as they were sealed when appended. Sealing them again cost as much as
    /// the appends themselves (a third of the log's time in a business's load test).
    fn keep_last(&mut self, count: usize) -> Result<(), EventLogError> {
        if count == 0 {
            return self.replace(&[], 0);
        }
        let path = Disk::backlog_path(&self.dir);
        let text = std::fs::read(&path).map_err(|source| EventLogError { path: path.display().to_string(), source })?;
        // The start of the last `count` lines (each ends with a newline; an unfinished last
        // one counts as a line, and does not open when read).
        let body = text.strip_suffix(b"\n").unwrap_or(&text);
        let start = body
            .iter()
            .enumerate()
            .rev()
            .filter(|(_, byte)| **byte == b'\n')
            .nth(count.saturating_sub(1))
            .map_or(0, |(at, _)| at + 1);
        let tail = text.get(start..).unwrap_or_default();
        let lines = tail.iter().filter(|byte| **byte == b'\n').count();
        self.replace(tail, lines)
    }

    /// Makes `text` (of `lines` lines) the backlog file, through a temporary file and a
    /// rename, and appends to it from now on.
    fn replace(&mut self, text: &[u8], lines: usize) -> Result<(), EventLogError> {
        let path = Disk::backlog_path(&self.dir);
        let temporary = self.dir.join("events.jsonl.tmp");
        let io = |source| EventLogError { path: path.display().to_string(), source };
        std::fs::write(&temporary, text).map_err(io)?;
        std::fs::rename(&temporary, &path).map_err(io)?;
        self.backlog = open_append(&path).map_err(io)?;
        self.lines = lines;
        Ok(())
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// One backlog line: the event sealed, in hex, and a newline.
fn seal_line(key: &SecretKey, body: &serde_json::Value) -> String {
    match key.seal(body.to_string().as_bytes(), LINE_CONTEXT) {
        Ok(sealed) => format!("{}\n", me2b_proto::identity::hex(&sealed)),
        Err(error) => {
            tracing::warn!(%error, "an event could not be sealed for the backlog");
            String::new()
        }
    }
}

/// The event on a backlog line, if it opens.
fn open_line(key: &SecretKey, line: &[u8]) -> Option<serde_json::Value> {
    let sealed = me2b_proto::identity::unhex(std::str::from_utf8(line).ok()?.trim())?;
    let plain = key.open(&sealed, LINE_CONTEXT).ok()?;
    serde_json::from_slice(&plain).ok()
}

/// Reads the backlog and the mark in `dir`: the last kept events and the next id to use.
fn load(dir: &Path, key: &SecretKey) -> Result<(VecDeque<Numbered>, u64), EventLogError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| EventLogError { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let backlog = Disk::backlog_path(dir);
    let text = match std::fs::read(&backlog) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(error) => return Err(io(&backlog)(error)),
    };
    let mut kept: VecDeque<Numbered> = VecDeque::new();
    // A line cut short by a crash, or anything else that does not open, is skipped.
    for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty() && l.len() <= MAX_LINE) {
        let Some(body) = open_line(key, line) else { continue };
        let Some(id) = body["id"].as_u64() else { continue };
        if kept.back().is_some_and(|(last, _)| *last >= id) {
            continue;
        }
        if kept.len() >= KEPT_EVENTS {
            kept.pop_front();
        }
        kept.push_back((id, Arc::new(body)));
    }
    let mark_path = Disk::mark_path(dir);
    let mark = match std::fs::read_to_string(&mark_path) {
        Ok(text) => text.trim().parse::<u64>().unwrap_or(0),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => 0,
        Err(error) => return Err(io(&mark_path)(error)),
    };
    let after_kept = kept.back().map(|(id, _)| id + 1).unwrap_or(1);
    Ok((kept, mark.max(after_kept).max(1)))
}

impl Drop for EventLog {
    fn drop(&mut self) {
        self.close();
    }
}

impl EventLog {
    /// Starts numbering the node events `events` receives (subscribed as soon as the node
    /// started, so none is missed), continuing the log in `dir` (sealed with `key`) if given.
    pub fn start(
        mut events: broadcast::Receiver<NodeEvent>,
        dir: Option<(&Path, SecretKey)>,
    ) -> Result<Arc<EventLog>, EventLogError> {
        let log = Arc::new(EventLog::open(dir)?);
        let writer = Arc::clone(&log);
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(event) => writer.push(&event),
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        writer.push_value("events-lost", json!({"missed": missed}));
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        Ok(log)
    }

    /// An empty log, or the one kept in `dir`, with the next ids reserved.
    fn open(dir: Option<(&Path, SecretKey)>) -> Result<EventLog, EventLogError> {
        let mut inner = Inner { next_id: 1, ..Inner::default() };
        if let Some((dir, key)) = dir {
            let (kept, next_id) = load(dir, &key)?;
            let reserved_until = next_id.saturating_add(RESERVE);
            Disk::reserve(dir, reserved_until)?;
            let path = Disk::backlog_path(dir);
            let backlog =
                open_append(&path).map_err(|source| EventLogError { path: path.display().to_string(), source })?;
            let mut disk = Disk { dir: dir.to_path_buf(), key, reserved_until, backlog, lines: usize::MAX };
            disk.compact(&kept)?;
            inner = Inner { next_id, kept, counts: BTreeMap::new(), disk: Some(disk) };
        }
        let (live, _) = broadcast::channel(KEPT_EVENTS);
        Ok(EventLog { inner: Mutex::new(inner), live })
    }

    fn push(&self, event: &NodeEvent) {
        let (kind, body) = describe(event);
        self.push_value(kind, body);
    }

    /// Adds an event the API layer itself observed (e.g. a webhook given up), numbered with
    /// the node's.
    pub fn note(&self, kind: &'static str, body: serde_json::Value) {
        self.push_value(kind, body);
    }

    fn push_value(&self, kind: &'static str, mut body: serde_json::Value) {
        let Ok(mut inner) = self.inner.lock() else { return };
        let id = inner.next_id;
        if let Some(disk) = inner.disk.as_mut()
            && id >= disk.reserved_until
        {
            let until = id.saturating_add(RESERVE);
            match Disk::reserve(&disk.dir, until) {
                Ok(()) => disk.reserved_until = until,
                // An id not reserved on disk could be reused after a crash: drop the event
                // rather than send it (the client sees the count in /metrics).
                Err(error) => {
                    tracing::warn!(%error, "cannot reserve event ids; event dropped");
                    return;
                }
            }
        }
        inner.next_id += 1;
        *inner.counts.entry(kind).or_default() += 1;
        body["id"] = json!(id);
        body["type"] = json!(kind);
        let body = Arc::new(body);
        if inner.kept.len() >= KEPT_EVENTS {
            inner.kept.pop_front();
        }
        inner.kept.push_back((id, Arc::clone(&body)));
        let Inner { kept, disk, .. } = &mut *inner;
        if let Some(disk) = disk.as_mut() {
            // Written, not synced: a process crash keeps it (the page cache), a power cut may
            // lose the tail, which the reserved ids make safe.
            let line = seal_line(&disk.key, &body);
            let written = disk.backlog.write_all(line.as_bytes());
            disk.lines = disk.lines.saturating_add(1);
            let compacted = if disk.lines >= 2 * KEPT_EVENTS { disk.keep_last(kept.len()) } else { Ok(()) };
            if let Err(error) = written.map_err(|e| e.to_string()).and(compacted.map_err(|e| e.to_string())) {
                tracing::warn!(%error, "cannot write the event backlog");
            }
        }
        let _ = self.live.send((id, body));
    }

    /// The kept events after `last_id` (all kept without one), preceded by a `gap` event
    /// when some after `last_id` are no longer kept, and a receiver for those that follow
    /// (subscribed before reading, so none falls in between).
    pub fn since(&self, last_id: Option<u64>) -> (Vec<Numbered>, broadcast::Receiver<Numbered>) {
        let live = self.live.subscribe();
        let Ok(inner) = self.inner.lock() else { return (Vec::new(), live) };
        let after = last_id.unwrap_or(0);
        let mut events: Vec<Numbered> = Vec::new();
        let first_kept = inner.kept.iter().map(|(id, _)| *id).find(|id| *id > after);
        if let (Some(last), Some(first)) = (last_id, first_kept)
            && first > last.saturating_add(1)
        {
            let id = first - 1;
            let body = json!({"id": id, "type": "gap", "missed": id - last,
                              "detail": "at most this many events are no longer kept (a crash skips ids); \
                                         reread the lists"});
            events.push((id, Arc::new(body)));
        }
        events.extend(inner.kept.iter().filter(|(id, _)| *id > after).cloned());
        (events, live)
    }

    /// Writes the exact next id as the mark, so that a clean restart continues without
    /// skipping ids (a crash skips to the reserved mark instead, and says so with a `gap`).
    pub fn close(&self) {
        let Ok(inner) = self.inner.lock() else { return };
        if let Some(disk) = &inner.disk
            && let Err(error) = Disk::reserve(&disk.dir, inner.next_id)
        {
            tracing::warn!(%error, "cannot record the next event id");
        }
    }

    /// The id of the newest event (0 before any).
    pub fn last_id(&self) -> u64 {
        self.inner.lock().map(|inner| inner.next_id.saturating_sub(1)).unwrap_or(0)
    }

    /// How many events of each type there were since the daemon started.
    pub fn counts(&self) -> BTreeMap<&'static str, u64> {
        self.inner.lock().map(|inner| inner.counts.clone()).unwrap_or_default()
    }
}

/// An event's type and its JSON body: ids and paths, never personal values.
fn describe(event: &NodeEvent) -> (&'static str, serde_json::Value) {
    match event {
        NodeEvent::Engine(event) => describe_engine(event),
        NodeEvent::Misbehaved { peer, reason } => {
            ("peer-misbehaved", json!({"peer": peer.to_string(), "reason": reason}))
        }
        NodeEvent::Banned { peer, seconds } => ("peer-banned", json!({"peer": peer.to_string(), "seconds": seconds})),
        NodeEvent::Connected { peer } => ("peer-connected", json!({"peer": peer.to_string()})),
        NodeEvent::PeerSubscribed { peer, topic } => {
            ("peer-subscribed", json!({"peer": peer.to_string(), "topic": topic}))
        }
        NodeEvent::RateLimited { peer } => ("peer-rate-limited", json!({"peer": peer.to_string()})),
        NodeEvent::Published { topic } => ("published", json!({"topic": topic})),
        NodeEvent::PublishDropped { topic } => ("publish-dropped", json!({"topic": topic})),
        NodeEvent::Delivered { peer } => ("delivered", json!({"peer": peer.to_string()})),
        NodeEvent::ProfilePublished => ("profile-published", json!({})),
        NodeEvent::DhtQuery { kind, found, asked, answered, duration } => (
            "dht-query",
            json!({"kind": kind, "found": found, "asked": asked, "answered": answered,
                   "millis": duration.as_millis() as u64}),
        ),
    }
}

fn describe_engine(event: &Event) -> (&'static str, serde_json::Value) {
    let paths = |fields: &[me2b_proto::vocab::FieldPath]| fields.iter().map(ToString::to_string).collect::<Vec<_>>();
    match event {
        Event::RequestSeen { request_id, business, category, outcome } => (
            "request-seen",
            json!({"request_id": request_id.to_string(), "business": business.to_string(),
                   "category": category.to_string(), "outcome": outcome}),
        ),
        Event::IntentSeen { intent_id, category, answered } => (
            "intent-seen",
            json!({"intent_id": intent_id.to_string(), "category": category.to_string(), "answered": answered}),
        ),
        Event::AwaitingOwner { negotiation_id, peer, reasons, .. } => (
            "awaiting-owner",
            json!({"negotiation_id": negotiation_id.to_string(), "peer": peer.to_string(),
                   "reasons": reasons.iter().map(|r| format!("{r:?}")).collect::<Vec<_>>()}),
        ),
        Event::TermsExchanged { negotiation_id, sent } => {
            ("terms-exchanged", json!({"negotiation_id": negotiation_id.to_string(), "sent": sent}))
        }
        Event::Finalized { negotiation_id, agreement_id, peer } => (
            "agreement-finalized",
            json!({"negotiation_id": negotiation_id.to_string(), "agreement_id": agreement_id.to_string(),
                   "peer": peer.to_string()}),
        ),
        Event::Terminated { negotiation_id, code, reason, by_peer } => (
            "negotiation-terminated",
            json!({"negotiation_id": negotiation_id.to_string(), "code": format!("{code:?}"),
                   "reason": reason, "by_peer": by_peer}),
        ),
        Event::DataSent { agreement_id, fields } => {
            ("data-sent", json!({"agreement_id": agreement_id.to_string(), "fields": paths(fields)}))
        }
        Event::DataReceived { agreement_id, fields } => {
            ("data-received", json!({"agreement_id": agreement_id.to_string(), "fields": paths(fields)}))
        }
        Event::OfferReceived { agreement_id, offer_id, offer } => (
            "offer-received",
            json!({"agreement_id": agreement_id.to_string(), "offer_id": offer_id.to_string(),
                   "description": offer.description, "price": offer.price.to_string()}),
        ),
        Event::Revoked { agreement_id } => ("agreement-revoked", json!({"agreement_id": agreement_id.to_string()})),
        Event::Expired { agreement_id } => ("agreement-expired", json!({"agreement_id": agreement_id.to_string()})),
        Event::DataDeleted { agreement_id, items } => {
            ("data-deleted", json!({"agreement_id": agreement_id.to_string(), "items": items}))
        }
        Event::DeletionDue { agreement_id, cause } => {
            let cause = match cause {
                me2b_proto::messages::DeletionCause::Revoked => "revoked",
                me2b_proto::messages::DeletionCause::Expired => "expired",
            };
            ("deletion-due", json!({"agreement_id": agreement_id.to_string(), "cause": cause}))
        }
        Event::DeletionConfirmed { agreement_id } => {
            ("deletion-receipt", json!({"agreement_id": agreement_id.to_string()}))
        }
        Event::DomainChecked { business, domain, verified } => {
            ("domain-checked", json!({"business": business.to_string(), "domain": domain, "verified": verified}))
        }
        Event::Impersonation { name, claimed_by, pinned } => (
            "impersonation",
            json!({"name": name, "claimed_by": claimed_by.to_string(),
                   "claimed_by_fingerprint": claimed_by.fingerprint(),
                   "pinned": pinned.to_string(), "pinned_fingerprint": pinned.fingerprint()}),
        ),
        Event::RevocationNotConfirmed { agreement_id, reason } => {
            ("revocation-not-confirmed", json!({"agreement_id": agreement_id.to_string(), "reason": reason}))
        }
        Event::AgreementVoid { agreement_id, reason } => {
            ("agreement-void", json!({"agreement_id": agreement_id.to_string(), "reason": reason}))
        }
        Event::DeliveryRefused { to, kind, reason } => {
            ("delivery-refused", json!({"to": to.to_string(), "kind": format!("{kind:?}"), "reason": reason}))
        }
        Event::OutboxFull { to, kind } => ("outbox-full", json!({"to": to.to_string(), "kind": format!("{kind:?}")})),
        Event::PromptExpired { negotiation_id } => {
            ("prompt-expired", json!({"negotiation_id": negotiation_id.to_string()}))
        }
        Event::DeliveryAbandoned { to, kind } => {
            ("delivery-abandoned", json!({"to": to.to_string(), "kind": format!("{kind:?}")}))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretKey {
        SecretKey::from_bytes(&[7; 32]).unwrap()
    }

    fn on_disk(dir: &tempfile::TempDir) -> EventLog {
        EventLog::open(Some((dir.path(), key()))).unwrap()
    }

    fn ids(events: &[Numbered]) -> Vec<u64> {
        events.iter().map(|(id, _)| *id).collect()
    }

    #[test]
    fn ids_continue_after_a_restart_and_a_client_resumes_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let log = on_disk(&dir);
        for n in 0..5 {
            log.push_value("published", json!({"n": n}));
        }
        drop(log);
        let log = on_disk(&dir);
        log.push_value("published", json!({"n": 5}));
        let (events, _) = log.since(Some(3));
        assert_eq!(ids(&events), [4, 5, 6], "resumes after 3, across the restart");
        assert_eq!(events[2].1["n"], 5);
        std::mem::forget(log); // as kill -9 would
        let log = on_disk(&dir);
        let (events, _) = log.since(Some(6));
        assert!(events.is_empty(), "nothing after 6 yet: {events:?}");
        log.push_value("published", json!({"n": 6}));
        let (after_crash, _) = log.since(Some(6));
        assert_eq!(after_crash[0].1["type"], "gap", "the ids a crash skips are reported as a gap");
        assert!(after_crash[1].0 > 6);
        // Control: without a directory, a restart starts again at 1.
        let memory = EventLog::open(None).unwrap();
        memory.push_value("published", json!({}));
        assert_eq!(ids(&memory.since(None).0), [1]);
    }

    #[test]
    fn a_lost_backlog_or_a_torn_line_never_reuses_an_id() {
        let dir = tempfile::tempdir().unwrap();
        let log = on_disk(&dir);
        log.push_value("published", json!({}));
        log.push_value("published", json!({}));
        std::mem::forget(log);
        // A power cut lost the backlog but not the fsynced mark; a crash tore a line.
        std::fs::write(dir.path().join("events.jsonl"), "{\"id\": 1, \"type\": \"published\"}\n{\"id\": 2, \"ty")
            .unwrap();
        let log = on_disk(&dir);
        log.push_value("published", json!({}));
        let (events, _) = log.since(Some(2));
        let first_new = events.iter().map(|(id, _)| *id).find(|id| *id > 2).unwrap();
        assert!(first_new > 2, "a new id is above every id sent before");
        assert_eq!(events[0].1["type"], "gap", "the skipped ids are reported: {events:?}");
    }

    #[test]
    fn a_client_behind_the_backlog_is_told_what_it_missed() {
        let log = EventLog::open(None).unwrap();
        let total = KEPT_EVENTS as u64 + 100;
        for _ in 0..total {
            log.push_value("published", json!({}));
        }
        let (events, _) = log.since(Some(10));
        assert_eq!(events[0].1["type"], "gap");
        assert_eq!(events[0].1["missed"], 100 - 10 + 1 - 1, "ids 11..=100 are gone");
        assert_eq!(events.len(), KEPT_EVENTS + 1);
        assert_eq!(ids(&events[1..])[0], 101);
        // Up to date: nothing but what follows.
        assert!(log.since(Some(total)).0.is_empty());
        // A client's Last-Event-ID is whatever it sends: the largest one neither panics nor
        // invents a gap.
        assert!(log.since(Some(u64::MAX)).0.is_empty());
    }

    #[test]
    fn compaction_keeps_the_newest_lines_as_they_were_sealed() {
        let dir = tempfile::tempdir().unwrap();
        let log = on_disk(&dir);
        let path = dir.path().join("events.jsonl");
        for n in 0..(2 * KEPT_EVENTS - 1) {
            log.push_value("published", json!({"n": n}));
        }
        let before = std::fs::read_to_string(&path).unwrap();
        assert_eq!(before.lines().count(), 2 * KEPT_EVENTS - 1, "not compacted yet");
        log.push_value("published", json!({"n": 2 * KEPT_EVENTS - 1}));
        let after = std::fs::read_to_string(&path).unwrap();
        let appended: Vec<&str> = before.lines().chain(after.lines().last()).collect();
        let kept: Vec<&str> = after.lines().collect();
        assert_eq!(kept.len(), KEPT_EVENTS);
        // The same bytes: a line sealed again would differ (each seal draws a new nonce).
        assert_eq!(kept, appended[appended.len() - KEPT_EVENTS..], "the kept lines are copied, not sealed again");
        // And they are the newest events, in order, across a restart.
        drop(log);
        let log = on_disk(&dir);
        let (events, _) = log.since(None);
        let expected: Vec<u64> = (KEPT_EVENTS as u64 + 1..=2 * KEPT_EVENTS as u64).collect();
        assert_eq!(ids(&events), expected);
        assert_eq!(events[0].1["n"], KEPT_EVENTS);
    }

    #[test]
    fn the_backlog_file_stays_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let log = on_disk(&dir);
        for _ in 0..(3 * KEPT_EVENTS) {
            log.push_value("published", json!({}));
        }
        let text = std::fs::read_to_string(dir.path().join("events.jsonl")).unwrap();
        let lines = text.lines().count();
        assert!(lines < 2 * KEPT_EVENTS, "{lines} lines kept");
        assert!(!text.contains("published"), "sealed, not plain");
        // Another key opens none of it: the restarted log starts past the mark, empty.
        let other = EventLog::open(Some((dir.path(), SecretKey::from_bytes(&[8; 32]).unwrap()))).unwrap();
        assert!(other.since(None).0.is_empty());
    }
}
