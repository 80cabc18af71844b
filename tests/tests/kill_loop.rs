//! kill -9 at any moment loses nothing acknowledged. A person's and a business's daemons run
//! with agreements between them; in each iteration the person's vault is written through the
//! API as fast as it answers, by several writers at once (so that the node's group commit
//! puts several writes under one flush, and a kill can land between a batch's write and its
//! acknowledgements), and one of the two daemons (mostly the person's) is killed with
//! SIGKILL at a random moment, now and then right after a revocation. After every restart:
//! every write the API acknowledged is there (or a later one), every acknowledged revocation is
//! still REVOKED or DELETED (never ACTIVE again), and both ledgers verify. At the end every
//! revocation has its signed receipt.
//!
//! CI runs 200 iterations; `ME2B_KILL_ITERATIONS=2000 cargo test -p me2b-tests --test
//! kill_loop -- --nocapture` runs more (see the README).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use me2b_tests::*;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A small deterministic generator for kill moments (after how many writes) (no dependency, same run every time).
struct Moments(u64);

impl Moments {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

/// How many write at once.
const WRITERS: u64 = 3;

/// Writes `activity.wWkN` records (its own paths, writer `writer`) with growing values until
/// `stop` or the daemon goes away; returns the last acknowledged value per path, and how many
/// writes were acknowledged. Each acknowledgement is reported on `progress`.
fn write_until_gone(
    api: std::net::SocketAddr,
    token: String,
    (writer, first): (u64, u64),
    stop: Arc<AtomicBool>,
    progress: std::sync::mpsc::Sender<()>,
) -> (BTreeMap<String, u64>, u64) {
    let mut acknowledged = BTreeMap::new();
    let mut count = 0;
    let auth = format!("Bearer {token}");
    for value in first.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let path = format!("activity.w{writer}k{}", value % 16);
        // Both ways a write is acknowledged: PUT answers with the record read back, an import
        // with a count only (no read after the write to hide an early acknowledgement).
        let (method, target, body) = if value % 2 == 0 {
            ("PUT", format!("/v1/data/{path}"), format!("{{\"value\": {value}}}"))
        } else {
            ("POST", "/v1/data".to_owned(), format!("{{\"records\": {{\"{path}\": {value}}}}}"))
        };
        match try_http(api, method, &target, &[("Authorization", &auth)], &body) {
            Ok(answer) if answer.status == 200 => {
                acknowledged.insert(path, value);
                count += 1;
                let _ = progress.send(());
            }
            _ => break,
        }
    }
    (acknowledged, count)
}

#[test]
fn kill_nine_at_any_moment_loses_nothing_acknowledged() {
    let iterations: u64 = std::env::var("ME2B_KILL_ITERATIONS").ok().and_then(|n| n.parse().ok()).unwrap_or(200);
    let (mut person, mut business) = person_and_shoe_maker("127.0.0.48", "127.0.0.49");
    let mut to_revoke: Vec<String> = (0..6).map(|_| agree_on_shoes(&mut person, &mut business)).collect();
    let mut revoked: Vec<String> = Vec::new();
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    let mut moments = Moments(0x9e37_79b9_7f4a_7c15);
    let mut next_value = 1_000u64;
    let mut writes = 0u64;

    for i in 0..iterations {
        let stop = Arc::new(AtomicBool::new(false));
        let (progress, acked) = std::sync::mpsc::channel();
        let writers: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let (api, token, stop, progress) = (person.api(), person.token(), Arc::clone(&stop), progress.clone());
                std::thread::spawn(move || write_until_gone(api, token, (writer, next_value), stop, progress))
            })
            .collect();
        drop(progress);
        if i % 30 == 10
            && let Some(agreement) = to_revoke.pop()
        {
            person.ok(&["revoke", &agreement]);
            revoked.push(agreement);
        }
        // The kill lands after a random number of acknowledged writes, while the next one is
        // in flight: waited for on the writer's acknowledgements, each within a bounded time.
        let kill_after = 1 + moments.next(40 * WRITERS);
        for _ in 0..kill_after {
            acked.recv_timeout(WAIT).expect("the writers stalled");
        }
        let business_dies = i % 4 == 3;
        if business_dies {
            business.kill();
            stop.store(true, Ordering::Relaxed);
        } else {
            person.kill();
        }
        for writer in writers {
            let (acknowledged, count) = writer.join().unwrap();
            writes += count;
            expected.extend(acknowledged);
        }
        next_value += 1_000_000;
        if business_dies {
            business.start(&[person.address()]);
        } else {
            person.start(&[business.address()]);
        }

        let vault = person.json(&["data", "list"]);
        let stored: BTreeMap<String, u64> = vault
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| Some((r["path"].as_str()?.to_owned(), r["value"].as_f64()? as u64)))
            .collect();
        for (path, value) in &expected {
            let kept = stored.get(path).copied().unwrap_or(0);
            assert!(kept >= *value, "iteration {i}: {path} acknowledged {value}, found {kept}");
        }
        for agreement in &revoked {
            let state = person.json(&["agreements", "show", agreement])["state"].clone();
            assert!(state == "REVOKED" || state == "DELETED", "iteration {i}: revoked {agreement} is {state}");
        }
        for node in [&person, &business] {
            let verified = node.json(&["ledger", "verify"]);
            assert_eq!(verified["valid"], true, "iteration {i}: {verified}");
        }
        // What is stored now is what later iterations must keep (each key's newest value).
        expected = stored;
    }
    eprintln!("{iterations} kills; {writes} acknowledged writes; {} revocations mid-flow", revoked.len());
    assert!(writes > iterations, "the writes did run: {writes}");

    // Every revocation ends in its receipt, whoever was killed when.
    for agreement in &revoked {
        if person.json(&["agreements", "show", agreement])["state"] != "DELETED" {
            person.wait_event("deletion-receipt", |e| e["agreement_id"] == agreement.as_str());
        }
    }
}
