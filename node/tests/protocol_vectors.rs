//! The test vectors in `docs/PROTOCOL.md` are what this code produces: keys, signatures in
//! every domain, a sealed envelope, the direct frames and a ledger entry, from fixed inputs.
//! The test fails if the document and the code disagree; `ME2B_WRITE_VECTORS=1` rewrites the
//! section between its markers instead.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use futures::executor::block_on;
use libp2p::request_response::Codec as _;
use me2b_node::net::codec::{Codec, DirectRequest};
use me2b_node::net::{NEGOTIATE, libp2p_keypair};
use me2b_proto::engine::Answer;
use me2b_proto::envelope::{self, MessageKind, Seal};
use me2b_proto::identity::{Digest, Keypair, Nonce, SignatureDomain, hex};
use me2b_proto::ledger::{self, EventKind, Head};
use me2b_proto::time::Timestamp;
use std::fmt::Write as _;

const BEGIN: &str = "<!-- vectors:begin (written by node/tests/protocol_vectors.rs) -->";
const END: &str = "<!-- vectors:end -->";

/// 2026-01-01T00:00:00Z.
const ISSUED_AT_MS: u64 = 1_767_225_600_000;

fn secret(first: u8) -> [u8; 32] {
    std::array::from_fn(|i| first.wrapping_add(i as u8))
}

fn vectors() -> String {
    let alice = Keypair::from_secret_bytes(&secret(0x01));
    let bob = Keypair::from_secret_bytes(&secret(0x41));
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    line("Inputs: key A's secret is the bytes `01 02 ... 20`, key B's `41 42 ... 60`; the nonce is".into());
    line("`a0 a1 ... af`; times are ms since the epoch.".into());
    line(String::new());
    line("```text".into());
    line(format!("A secret      {}", hex(&secret(0x01))));
    line(format!("A public key  {}", alice.public()));
    line(format!("A peer id     {}", libp2p_keypair(secret(0x01)).unwrap().public().to_peer_id()));
    line(format!("B public key  {}", bob.public()));
    line(String::new());
    line("Signatures by A over the 16 bytes `me2b test vector`, per domain:".into());
    let message = b"me2b test vector";
    let domains = [
        ("data-request", SignatureDomain::Envelope(MessageKind::DataRequest)),
        ("intent", SignatureDomain::Envelope(MessageKind::Intent)),
        ("negotiation", SignatureDomain::Envelope(MessageKind::Negotiation)),
        ("data-package", SignatureDomain::Envelope(MessageKind::DataPackage)),
        ("personal-offer", SignatureDomain::Envelope(MessageKind::PersonalOffer)),
        ("revocation", SignatureDomain::Envelope(MessageKind::Revocation)),
        ("deletion-receipt", SignatureDomain::Envelope(MessageKind::DeletionReceipt)),
        ("agreement", SignatureDomain::Agreement),
        ("ledger-entry", SignatureDomain::LedgerEntry),
        ("api-identity", SignatureDomain::ApiIdentity),
        ("business-profile", SignatureDomain::BusinessProfile),
        ("domain-proof", SignatureDomain::DomainProof),
    ];
    for (name, domain) in domains {
        let signature = alice.sign(domain, message);
        assert!(alice.public().verify(domain, message, &signature));
        line(format!("  {name:<17}{}", hex(&signature.to_bytes())));
    }
    line(String::new());

    let nonce = Nonce::from_bytes(std::array::from_fn(|i| 0xa0 + i as u8));
    // A person's personas (see "Identities"): A as a person, toward business B and for the
    // intent whose id is the nonce's bytes.
    let identities = me2b_proto::identity::Identities::new(Keypair::from_secret_bytes(&secret(0x01)), true);
    let intent_id = me2b_proto::identity::IntentId::from_bytes(nonce.to_bytes());
    for (name, persona) in [
        ("toward B", me2b_proto::identity::Persona::Business(bob.public())),
        ("for intent a0..af", me2b_proto::identity::Persona::Intent(intent_id)),
    ] {
        let secret = identities.secret(persona);
        line(format!("A's persona {name}: secret {}", hex(&secret)));
        line(format!("  public key {}", identities.public(persona)));
        line(format!("  peer id    {}", libp2p_keypair(secret).unwrap().public().to_peer_id()));
    }
    line(String::new());

    let intent = envelope::seal(
        Seal {
            keypair: &alice,
            kind: MessageKind::Intent,
            recipient: None,
            nonce,
            issued_at: Timestamp::from_millis(ISSUED_AT_MS),
            expires_at: Timestamp::from_millis(ISSUED_AT_MS + 86_400_000),
        },
        b"payload".to_vec(),
    );
    let opened = envelope::open(&intent, MessageKind::Intent, None, Timestamp::from_millis(ISSUED_AT_MS)).unwrap();
    assert_eq!(opened.payload(), b"payload");
    line(format!("Gossip SignedEnvelope by A: kind intent, no recipient, issued {ISSUED_AT_MS}, expires one"));
    line("day later, payload the 7 bytes `payload` (a real intent's payload is an encoded `Intent`):".into());
    wrap(&mut line, &hex(&intent));
    line(format!("  gossip message id (SHA-256 of the data): {}", Digest::of(&intent)));
    line(String::new());

    let direct = envelope::seal(
        Seal {
            keypair: &alice,
            kind: MessageKind::Negotiation,
            recipient: Some(bob.public()),
            nonce,
            issued_at: Timestamp::from_millis(ISSUED_AT_MS),
            expires_at: Timestamp::from_millis(ISSUED_AT_MS + 300_000),
        },
        b"payload".to_vec(),
    );
    envelope::open(&direct, MessageKind::Negotiation, Some(&bob.public()), Timestamp::from_millis(ISSUED_AT_MS))
        .unwrap();
    let mut frame = futures::io::Cursor::new(Vec::new());
    block_on(Codec.write_request(&NEGOTIATE, &mut frame, DirectRequest::new(MessageKind::Negotiation, direct)))
        .unwrap();
    line("Direct request frame on /me2b/negotiate/1.0.0: A to B, kind negotiation, valid 5 minutes,".into());
    line("payload `payload` (varint length, kind byte 3, SignedEnvelope):".into());
    wrap(&mut line, &hex(frame.get_ref()));
    for (name, answer) in [
        ("accepted", Answer::Accepted),
        ("ignored \"stale\"", Answer::Ignored("stale".into())),
        ("rejected \"bad signature\"", Answer::Rejected("bad signature".into())),
    ] {
        let mut frame = futures::io::Cursor::new(Vec::new());
        block_on(Codec.write_response(&NEGOTIATE, &mut frame, answer)).unwrap();
        line(format!("  answer {name:<26}{}", hex(frame.get_ref())));
    }
    line(String::new());

    // An empty ledger: sequence 0, previous hash 32 zero bytes.
    let mut head = Head::default();
    let event = ledger::Event {
        kind: EventKind::AgreementFinalized,
        peer: Some(bob.public()),
        subject: vec![0x11; 32],
        fields: vec!["body.shoe_size_eu".parse().unwrap()],
        digest: Some(Digest::of(b"agreement")),
    };
    let entry = ledger::append(&alice, &mut head, Timestamp::from_millis(ISSUED_AT_MS), &event);
    ledger::verify(std::slice::from_ref(&entry), &alice.public(), Some(&head)).unwrap();
    line("A's first ledger entry (SignedLedgerEntry): agreement finalized with B, subject 32 bytes 0x11,".into());
    line(format!("field body.shoe_size_eu, digest SHA-256(`agreement`), at {ISSUED_AT_MS}:"));
    wrap(&mut line, &hex(&entry));
    line(format!("  head after it: sequence {}, hash {}", head.next_sequence, head.last_hash));
    line("```".into());
    out
}

/// Writes long hex in lines of 96 characters, indented.
fn wrap(line: &mut impl FnMut(String), text: &str) {
    let mut rest = text;
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(rest.len().min(96));
        let mut indented = String::new();
        let _ = write!(indented, "  {chunk}");
        line(indented);
        rest = tail;
    }
}

#[test]
fn the_protocol_document_holds_the_vectors_this_code_makes() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/PROTOCOL.md");
    let document = std::fs::read_to_string(&path).unwrap();
    let start = document.find(BEGIN).expect("the vectors' begin marker") + BEGIN.len();
    let end = document.find(END).expect("the vectors' end marker");
    let expected = format!("\n{}", vectors());
    if std::env::var_os("ME2B_WRITE_VECTORS").is_some() {
        let written = format!("{}{expected}{}", &document[..start], &document[end..]);
        std::fs::write(&path, written).unwrap();
        return;
    }
    assert!(
        document[start..end] == expected,
        "docs/PROTOCOL.md's vectors differ from the code's; if the change is meant, run \
         ME2B_WRITE_VECTORS=1 cargo test -p me2b-node --test protocol_vectors\n--- code:\n{expected}"
    );
}
