//! Entry points for the fuzzers, as in [`me2b_proto::harness::fuzz`]: the direct protocols'
//! frame codec, the `config.toml` file and the import document. `cargo fuzz` targets (`fuzz/`)
//! and the bounded runs in CI (`node/tests/decoders.rs`) call these same functions. Each takes
//! arbitrary bytes and must not panic.

use crate::api::Import;
use crate::config::Config;
use crate::net::{ANNOUNCE, Answer, Codec, NEGOTIATE, OFFER, REVOKE, TRANSFER};
use futures::io::Cursor;
use libp2p::request_response::Codec as _;

/// A request and a response frame on every direct protocol; what decodes re-encodes to the
/// same bytes' meaning.
pub fn frames(bytes: &[u8]) {
    futures::executor::block_on(async {
        let mut codec = Codec;
        for protocol in [NEGOTIATE, TRANSFER, REVOKE, OFFER, ANNOUNCE] {
            if let Ok(request) = codec.read_request(&protocol, &mut Cursor::new(bytes.to_vec())).await
                && request.refused.is_none()
            {
                let mut again = Cursor::new(Vec::new());
                let kind = request.kind;
                let body = request.bytes.clone();
                if codec.write_request(&protocol, &mut again, request).await.is_ok() {
                    let back = codec.read_request(&protocol, &mut Cursor::new(again.into_inner())).await;
                    assert!(
                        back.is_ok_and(|back| back.kind == kind && back.bytes == body),
                        "a frame does not round-trip"
                    );
                }
            }
            if let Ok(answer) = codec.read_response(&protocol, &mut Cursor::new(bytes.to_vec())).await {
                let answer: Answer = answer;
                let _ = answer.reason();
            }
        }
    });
}

/// `config.toml` as written by hand: it parses, or says why; a parsed one checks its settings.
pub fn config(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    if let Ok(mut config) = toml::from_str::<Config>(text) {
        let _ = config.owner_window();
        let _ = config.apply_env(|_| None);
    }
}

/// The import document of `me2b data import` / `POST /v1/data`.
pub fn imports(bytes: &[u8]) {
    if let Ok(import) = serde_json::from_slice::<Import>(bytes) {
        let _ = import.check();
    }
}
