//! A business's own systems get what its node receives through signed webhooks, and a
//! person's deletion receipt comes only once those systems acknowledged deleting their copies:
//! a receiver that fails keeps the receipt back (the delivery ends in the dead letters), and
//! retrying it, acknowledged, releases the receipt.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod tls;
use me2b_tests::*;
use serde_json::Value as Json;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use tls::authority;

/// One request the receiver got.
#[derive(Debug)]
struct Delivery {
    signature: String,
    id: String,
    body: String,
    acknowledged: bool,
}

impl Delivery {
    fn json(&self) -> Json {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// A webhook receiver on `ip`: answers 200, or 500 to `deletion.due` while `refuse` is set;
/// over TLS with `tls`.
fn receiver(ip: &str, refuse: Arc<AtomicBool>, tls: Option<Arc<rustls::ServerConfig>>) -> (String, Receiver<Delivery>) {
    let listener = TcpListener::bind(format!("{ip}:0")).unwrap();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let url = format!("{scheme}://{}/hooks/me2b", listener.local_addr().unwrap());
    let (tx, deliveries) = channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { break };
            let delivery = match &tls {
                Some(config) => {
                    let Ok(connection) = rustls::ServerConnection::new(Arc::clone(config)) else { break };
                    let mut stream = rustls::StreamOwned::new(connection, stream);
                    let delivery = answer(&mut stream, &refuse);
                    stream.conn.send_close_notify();
                    let _ = stream.flush();
                    delivery
                }
                None => answer(&mut { stream }, &refuse),
            };
            // A client that gave up on the handshake (an unknown certificate) delivers nothing.
            if let Some(delivery) = delivery
                && tx.send(delivery).is_err()
            {
                break;
            }
        }
    });
    (url, deliveries)
}

/// Reads one request from `stream` and answers it.
fn answer(stream: &mut (impl Read + Write), refuse: &AtomicBool) -> Option<Delivery> {
    let mut reader = BufReader::new(&mut *stream);
    let (mut length, mut signature, mut id) = (0, String::new(), String::new());
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? <= 2 {
            break;
        }
        let (name, value) = line.split_once(':').unwrap_or_default();
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().unwrap_or(0),
            "me2b-signature" => signature = value.trim().to_owned(),
            "me2b-webhook-id" => id = value.trim().to_owned(),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let body = String::from_utf8(body).ok()?;
    let refused = refuse.load(Ordering::SeqCst) && body.contains("\"deletion.due\"");
    let status = if refused { "500 Internal Server Error" } else { "200 OK" };
    write!(stream, "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").ok()?;
    Some(Delivery { signature, id, body, acknowledged: !refused })
}

fn next_of(deliveries: &Receiver<Delivery>, kind: &str, seen: &Mutex<Vec<Delivery>>) -> Delivery {
    loop {
        let delivery = deliveries.recv_timeout(WAIT).unwrap_or_else(|_| panic!("no `{kind}` webhook"));
        if delivery.json()["type"] == kind {
            return delivery;
        }
        seen.lock().unwrap().push(delivery);
    }
}

/// Checks `Me2b-Signature: t=..,v1=..` against the business's secret.
fn signed(business: &Node, delivery: &Delivery) -> bool {
    let secret = std::fs::read_to_string(business.dir.path().join("webhook-secret")).unwrap();
    let secret = me2b_proto::identity::unhex(secret.trim()).unwrap();
    let seconds: u64 =
        delivery.signature.strip_prefix("t=").and_then(|rest| rest.split(',').next()).unwrap().parse().unwrap();
    me2b_node::api::webhooks::signature(&secret, seconds, &delivery.body) == delivery.signature
}

#[test]
fn the_receipt_waits_until_the_webhook_acknowledged_the_deletion() {
    let refuse = Arc::new(AtomicBool::new(false));
    let (url, deliveries) = receiver("127.0.0.72", Arc::clone(&refuse), None);
    let (mut person, mut business) = person_and_shoe_maker_with("127.0.0.70", "127.0.0.71", |business| {
        business.ok(&["config", "set", "webhook_url", &url]);
        business.ok(&["config", "set", "webhook_attempts", "2"]);
    });
    let seen = Mutex::new(Vec::new());

    let agreement = agree_on_shoes(&mut person, &mut business);
    let received = next_of(&deliveries, "data.received", &seen);
    assert!(signed(&business, &received), "signed with the business's secret: {received:?}");
    let body = received.json();
    assert_eq!(received.id, body["id"].as_str().unwrap());
    assert_eq!(body["data"]["agreement_id"], agreement);
    assert_eq!(body["data"]["items"]["body.shoe_size_eu"]["value"], 44, "the value itself");
    // Control: a body changed on the way no longer matches its signature.
    let forged = Delivery { body: received.body.replace("44", "45"), ..received };
    assert!(!signed(&business, &forged));

    // The business's systems fail to delete: the node deletes its own copy, the receipt waits.
    refuse.store(true, Ordering::SeqCst);
    person.ok(&["revoke", &agreement]);
    let revoked = next_of(&deliveries, "agreement.revoked", &seen);
    assert_eq!(revoked.json()["data"]["agreement_id"], agreement);
    let first = next_of(&deliveries, "deletion.due", &seen);
    assert!(!first.acknowledged);
    let second = next_of(&deliveries, "deletion.due", &seen);
    assert_eq!(second.id, first.id, "the same id on every attempt");
    let failed = business.wait_event("webhook-failed", |e| e["webhook_type"] == "deletion.due");

    // The held receipt and the dead letter outlive a restart of the business's daemon: it
    // tries the held deletion again at start (still refused), and keeps one letter for it.
    business.terminate();
    business.start(&[]);
    business.ok(&["connect", &person.address()]);
    let again = next_of(&deliveries, "deletion.due", &seen);
    assert_eq!(again.id, first.id);
    business.wait_event("webhook-failed", |e| e["id"].as_u64() > failed["id"].as_u64());
    let dead = business.json(&["webhooks"]);
    assert_eq!(dead["dead_letters"].as_array().unwrap().len(), 1, "{dead}");
    let letter = &dead["dead_letters"][0];
    assert_eq!(letter["type"], "deletion.due");
    assert_eq!(letter["attempts"], 2);
    assert_eq!(dead["deletions_due"], 1);
    let held = business.json(&["received"]);
    assert!(held.as_array().unwrap().is_empty(), "the node holds nothing any more: {held}");
    let shown = person.json(&["agreements", "show", &agreement]);
    assert_eq!(shown["state"], "REVOKED", "no receipt while the copies downstream are not confirmed gone");

    // They delete and acknowledge: the receipt follows.
    refuse.store(false, Ordering::SeqCst);
    business.ok(&["webhooks", "retry", letter["id"].as_str().unwrap()]);
    // Attempts refused before the retry may still be in the receiver's queue.
    let confirmed = loop {
        let delivery = next_of(&deliveries, "deletion.due", &seen);
        if delivery.acknowledged {
            break delivery;
        }
    };
    assert!(signed(&business, &confirmed));
    person.wait_event("deletion-receipt", |e| e["agreement_id"] == agreement);
    assert_eq!(person.json(&["agreements", "show", &agreement])["state"], "DELETED");
    let after = business.json(&["webhooks"]);
    assert_eq!(after["deletions_due"], 0);
    assert!(after["dead_letters"].as_array().unwrap().is_empty());

    // The event backlog and the dead letters are sealed on disk: whom the business dealt with
    // is not readable there (the agreement id is in several of the events written).
    let events_dir = business.dir.path().join("events");
    let mut files = 0;
    for entry in std::fs::read_dir(&events_dir).unwrap().flatten() {
        let bytes = std::fs::read(entry.path()).unwrap();
        files += 1;
        assert!(
            !String::from_utf8_lossy(&bytes).contains(&agreement),
            "{} holds the id in plain text",
            entry.path().display()
        );
    }
    assert!(files >= 3, "backlog, mark, cursor and dead letters were written ({files} files)");
    drop(seen);
}

#[test]
fn webhooks_go_over_https_to_a_receiver_whose_authority_the_business_trusts() {
    let (ca_pem, tls) = authority("127.0.0.75");
    let (url, deliveries) = receiver("127.0.0.75", Arc::new(AtomicBool::new(false)), Some(tls));
    assert!(url.starts_with("https://"));
    let (mut person, mut business) = person_and_shoe_maker_with("127.0.0.73", "127.0.0.74", |business| {
        let ca_file = business.dir.path().join("receiver-ca.pem");
        std::fs::write(&ca_file, &ca_pem).unwrap();
        business.ok(&["config", "set", "webhook_url", &url]);
        business.ok(&["config", "set", "webhook_attempts", "1"]);
        business.ok(&["config", "set", "webhook_ca", ca_file.to_str().unwrap()]);
    });
    let seen = Mutex::new(Vec::new());
    let agreement = agree_on_shoes(&mut person, &mut business);
    let received = next_of(&deliveries, "data.received", &seen);
    assert!(signed(&business, &received));
    assert_eq!(received.json()["data"]["agreement_id"], agreement);

    // Control: without the receiver's authority the business does not send it personal data:
    // the handshake fails and the delivery is a dead letter.
    business.terminate();
    business.ok(&["config", "set", "webhook_ca", ""]);
    business.start(&[]);
    business.ok(&["connect", &person.address()]);
    person.ok(&["revoke", &agreement]);
    let failed = business.wait_event("webhook-failed", |e| e["webhook_type"] == "agreement.revoked");
    let error = failed["error"].as_str().unwrap();
    assert!(error.contains("not reached"), "{error}");
    assert!(deliveries.try_recv().is_err(), "nothing arrived without TLS trust");
}
