//! A node writes a batch's ledger entries unsigned and signs the last one just after the write
//! (see `Engine::seal_ledger`); that signature rides on the node's next write. A crash between
//! the two leaves the ledger's end unsigned on disk, and the next start signs it
//! (`Engine::seal_tail` in `Node::start`), so the ledger a person reads back verifies.
//!
//! The crash is made exactly: the store is written as the node would have written the batch,
//! without the seal. Negative control: without `seal_tail` at the start, the ledger read back
//! ended unsigned and did not verify (`entries from 0 on are not signed`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use me2b_node::store::Store;
use me2b_proto::engine::{Change, Command, Config, Engine, Input, Output, Role};
use me2b_proto::identity::Keypair;
use me2b_proto::ledger::{self, EventKind, LedgerError};

#[tokio::test]
async fn a_ledger_left_unsigned_by_a_crash_is_signed_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let secret = [41; 32];
    let key = Keypair::from_secret_bytes(&secret).public();
    {
        // A business publishes a request and its node writes the batch, then dies before the
        // seal that follows the write reaches the disk.
        let store = Store::open(&dir.path().join("store"), None, true).unwrap();
        let mut engine = Engine::new(
            Keypair::from_secret_bytes(&secret),
            Config::new(Role::Business, [1; 32]),
            store.load().unwrap(),
            now(),
        );
        let publish = Command::PublishRequest {
            category: "apparel.shoes".parse().unwrap(),
            business_name: "Stride".into(),
            description: "Shoes that fit".into(),
            terms: shoe_terms(),
        };
        engine.handle(Input::Command(publish), now()).unwrap();
        let changes: Vec<Change> = std::iter::from_fn(|| engine.poll())
            .filter_map(|output| match output {
                Output::Persist(change) => Some(change),
                _ => None,
            })
            .collect();
        store.apply_blocking(engine.state(), &changes).unwrap();
        let written = store.ledger().unwrap();
        assert_eq!(written.len(), 1);
        assert_eq!(
            ledger::verify(&written, &key, Some(&engine.state().ledger)),
            Err(LedgerError::Unsealed { index: 0 }),
            "the crash should leave the entry unsigned"
        );
    }
    let business = start_in(Role::Business, secret, dir).await;
    let (entries, head) =
        business.handle.query(|engine, store| (store.ledger().unwrap(), engine.state().ledger)).await.unwrap();
    let read = ledger::verify(&entries, &key, Some(&head)).expect("the restarted node's ledger verifies");
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].event.kind, EventKind::RequestPublished);
    assert!(!ledger::is_unsealed(&entries[0]));
}
