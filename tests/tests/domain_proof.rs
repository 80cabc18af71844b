//! A business proves its web domain: it serves, at `https://DOMAIN/.well-known/me2b.json`, the
//! statement `me2b domain-proof` prints (signed by its key), and a person's node that met it
//! shows it as verified for that domain. The control: a second business whose profile names the
//! same website is not verified (the domain vouches for another key), and says why. The HTTPS
//! server is the test's own, with a certificate authority the person's node trusts only through
//! `domain_ca`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod tls;
use me2b_tests::*;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// An HTTPS server on `listener` answering every request with `body` (JSON).
fn serve(listener: TcpListener, config: Arc<rustls::ServerConfig>, body: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { break };
            let Ok(connection) = rustls::ServerConnection::new(Arc::clone(&config)) else { break };
            let mut stream = rustls::StreamOwned::new(connection, stream);
            let mut request = String::new();
            let mut reader = BufReader::new(&mut stream);
            while reader.read_line(&mut request).map(|n| n > 2).unwrap_or(false) {
                request.clear();
            }
            let body = body.lock().unwrap().clone();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            stream.conn.send_close_notify();
            let _ = stream.flush();
        }
    });
}

#[test]
fn a_business_serving_its_statement_is_verified_and_another_key_naming_its_website_is_not() {
    let ip = "127.0.0.81";
    let (ca_pem, config) = tls::authority(ip);
    let listener = TcpListener::bind(format!("{ip}:0")).unwrap();
    let website = format!("https://{}", listener.local_addr().unwrap());
    let domain = website.trim_start_matches("https://").to_owned();
    let body = Arc::new(Mutex::new(String::new()));
    serve(listener, config, Arc::clone(&body));

    let mut stride = Node::init("business", "Stride", "127.0.0.82");
    stride.ok(&["config", "set", "website", &website]);
    stride.start(&[]);
    let statement = stride.ok(&["domain-proof"]);
    let parsed: serde_json::Value = serde_json::from_str(&statement).unwrap();
    assert_eq!(parsed["domain"], domain.as_str());
    *body.lock().unwrap() = statement;

    let mut copycat = Node::init("business", "Stride Outlet", "127.0.0.83");
    copycat.ok(&["config", "set", "website", &website]);
    copycat.start(&[]);

    let mut person = Node::init("person", "Ada", "127.0.0.84");
    let ca_file = person.dir.path().join("test-ca.pem");
    std::fs::write(&ca_file, &ca_pem).unwrap();
    person.ok(&["config", "set", "domain_ca", ca_file.to_str().unwrap()]);
    person.start(&[stride.address(), copycat.address()]);
    person.ok(&["subscribe", "apparel.shoes"]);
    for business in [&mut stride, &mut copycat] {
        business.wait_event("peer-subscribed", |e| e["topic"] == "me2b/v1/requests/apparel.shoes");
        business.ok(SHOE_CAMPAIGN);
    }

    let stride_key = stride.json(&["id"])["public_key"].as_str().unwrap().to_owned();
    let copycat_key = copycat.json(&["id"])["public_key"].as_str().unwrap().to_owned();
    let verified = person.wait_event("domain-checked", |e| e["business"] == stride_key.as_str());
    assert_eq!(verified["verified"], true, "{verified}");
    let refused = person.wait_event("domain-checked", |e| e["business"] == copycat_key.as_str());
    assert_eq!(refused["verified"], false, "{refused}");

    let businesses = person.json(&["businesses"]);
    let shown = |key: &str| businesses.as_array().unwrap().iter().find(|b| b["key"] == key).unwrap().clone();
    let (real, copy) = (shown(&stride_key), shown(&copycat_key));
    assert_eq!((real["domain"].as_str(), real["domain_verified"].as_bool()), (Some(domain.as_str()), Some(true)));
    assert_eq!(copy["domain_verified"], false);
    assert!(copy["domain_note"].as_str().unwrap().contains("another key"), "{copy}");
}
