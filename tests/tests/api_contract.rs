//! The API's contract as a program integrating with the daemon sees it: every documented
//! route exists and every documented example is accepted, lists page by cursor, errors are
//! problem documents, and the CLI's exit codes say what kind of failure it was.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use me2b_tests::*;
use serde_json::{Value as Json, json};
use std::collections::BTreeSet;

/// Ids of nothing, well formed.
const NEGOTIATION: &str = "00112233445566778899aabbccddeeff";
const AGREEMENT: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fn bearer(node: &Node) -> String {
    format!("Bearer {}", node.token())
}

/// A call with the token and a JSON body; the answer's body parsed (or as a string).
fn call(node: &Node, method: &str, path: &str, body: &Json) -> (HttpAnswer, Json) {
    let token = bearer(node);
    let text = if body.is_null() { String::new() } else { body.to_string() };
    let answer = try_http(node.api(), method, path, &[("Authorization", &token)], &text).unwrap();
    let parsed = serde_json::from_str(&answer.body).unwrap_or(Json::String(answer.body.clone()));
    (answer, parsed)
}

fn is_problem(answer: &HttpAnswer, body: &Json) -> bool {
    answer.headers.iter().any(|(n, v)| n == "content-type" && v == "application/problem+json")
        && body["type"].as_str().is_some_and(|t| t.starts_with("urn:me2b:problem:"))
        && body["status"] == answer.status
        && body["title"].is_string()
        && body["detail"].is_string()
}

/// The example of an operation's JSON request body, from the operation or its schema.
fn request_example(document: &Json, operation: &Json) -> Option<Json> {
    let content = &operation["requestBody"]["content"]["application/json"];
    if !content["example"].is_null() {
        return Some(content["example"].clone());
    }
    let reference = content["schema"]["$ref"].as_str()?;
    let name = reference.rsplit('/').next()?;
    let example = &document["components"]["schemas"][name]["example"];
    (!example.is_null()).then(|| example.clone())
}

#[test]
fn every_documented_route_answers_and_every_example_is_accepted() {
    let (mut person, business) = person_and_shoe_maker("127.0.0.61", "127.0.0.62");
    // The person meets the shoe maker, so that the routes about a business have one.
    business.ok(SHOE_CAMPAIGN);
    person.wait_event("request-seen", |_| true);
    let business_key = business.json(&["id"])["public_key"].as_str().unwrap().to_owned();
    let document: Json = serde_json::from_str(&http(person.api(), "GET", "/v1/openapi.json", &[]).body).unwrap();
    let paths = document["paths"].as_object().expect("paths");
    let operations: usize = paths.values().map(|item| item.as_object().unwrap().len()).sum();
    assert!(paths.len() >= 34 && operations >= 43, "{} paths, {operations} operations", paths.len());
    for expected in ["/v1/peers", "/v1/catalog", "/v1/identity", "/metrics", "/v1/events", "/healthz"] {
        assert!(paths.contains_key(expected), "{expected} is documented");
    }

    let mut examples = 0;
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            // The event stream never ends; its own test reads it through the CLI.
            if path == "/v1/events" {
                continue;
            }
            // A well-formed id of the right length (16-byte negotiations, 32-byte agreements).
            let id = if path.starts_with("/v1/agreements") { AGREEMENT } else { NEGOTIATION };
            let concrete =
                path.replace("{id}", id).replace("{path}", "body.shoe_size_eu").replace("{key}", &business_key);
            let example = request_example(&document, operation);
            let body = example
                .clone()
                .unwrap_or_else(|| if operation.get("requestBody").is_some() { json!({}) } else { Json::Null });
            let method = method.to_uppercase();
            let answers: Vec<(HttpAnswer, Json)> =
                [&person, &business].into_iter().map(|node| call(node, &method, &concrete, &body)).collect();
            for (answer, parsed) in &answers {
                let missing =
                    answer.status == 405 || parsed["detail"].as_str().is_some_and(|d| d.starts_with("no such route"));
                assert!(!missing, "{method} {path} is documented but not routed: {}", answer.body);
                if answer.status >= 400 {
                    assert!(is_problem(answer, parsed), "{method} {path}: not a problem document: {answer:?}");
                }
            }
            if let Some(example) = example {
                examples += 1;
                // The node of the right role must not find the example malformed.
                let (answer, parsed) = answers
                    .iter()
                    .find(|(_, p)| p["type"] != "urn:me2b:problem:wrong-role")
                    .unwrap_or_else(|| panic!("{method} {path}: both roles refused"));
                let kind = parsed["type"].as_str().unwrap_or_default();
                assert!(
                    answer.status < 300
                        || !["urn:me2b:problem:bad-request", "urn:me2b:problem:unprocessable"].contains(&kind),
                    "{method} {path}: the documented example {example} is refused: {}",
                    answer.body
                );
            }
        }
    }
    assert!(examples >= 9, "only {examples} examples were tried");

    // An undocumented path is answered as a problem, not routed.
    let (answer, parsed) = call(&person, "GET", "/v1/nothing-here", &Json::Null);
    assert_eq!(answer.status, 404);
    assert!(is_problem(&answer, &parsed) && parsed["detail"].as_str().unwrap().starts_with("no such route"));
}

#[test]
fn lists_page_by_cursor_and_the_cli_reads_them_whole() {
    let mut person = Node::init("person", "Ada", "127.0.0.63");
    person.start(&[]);
    let records: serde_json::Map<String, Json> = (0..250).map(|n| (format!("body.item{n:03}"), json!(n))).collect();
    let (answer, imported) = call(&person, "POST", "/v1/data", &json!({ "records": records }));
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(imported["count"], 250);

    let mut seen = Vec::new();
    let mut next = Some("/v1/data?limit=100".to_owned());
    let mut pages = 0;
    while let Some(page) = next.take() {
        let (answer, items) = call(&person, "GET", &page, &Json::Null);
        assert_eq!(answer.status, 200);
        pages += 1;
        seen.extend(items.as_array().unwrap().iter().map(|i| i["path"].as_str().unwrap().to_owned()));
        next = answer.headers.iter().find(|(n, _)| n == "link").map(|(_, v)| {
            assert!(v.ends_with("rel=\"next\""), "{v}");
            v.trim_start_matches('<').split('>').next().unwrap().to_owned()
        });
    }
    assert_eq!(pages, 3, "100 + 100 + 50");
    assert_eq!(seen.len(), 250);
    let sorted: Vec<String> = seen.iter().cloned().collect::<BTreeSet<_>>().into_iter().collect();
    assert_eq!(seen, sorted, "in key order, none twice");

    // A record added behind the cursor does not shift the pages after it.
    let (first, _) = call(&person, "GET", "/v1/data?limit=2", &Json::Null);
    let link = first.headers.iter().find(|(n, _)| n == "link").unwrap().1.clone();
    call(&person, "PUT", "/v1/data/body.aaa", &json!({"value": 1}));
    let after = link.trim_start_matches('<').split('>').next().unwrap().to_owned();
    let (_, second) = call(&person, "GET", &after, &Json::Null);
    assert_eq!(second[0]["path"], "body.item002");

    for bad in ["/v1/data?limit=0", "/v1/data?limit=1001", "/v1/data?limit=x"] {
        let (answer, parsed) = call(&person, "GET", bad, &Json::Null);
        assert_eq!(answer.status, 400, "{bad}");
        assert!(is_problem(&answer, &parsed), "{bad}: {}", answer.body);
    }
    // The CLI follows the links: all 251 records.
    assert_eq!(person.json(&["data", "list"]).as_array().unwrap().len(), 251);
    // Numbers come back as they were written.
    assert_eq!(person.ok(&["data", "get", "body.item044"]).trim(), "44");
}

/// The exit code of `me2b ARGS`, and its stderr.
fn exit_code(node: &Node, args: &[&str]) -> (i32, String) {
    let output = node.run(args);
    (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn the_cli_exit_code_says_what_kind_of_failure() {
    let mut person = Node::init("person", "Ada", "127.0.0.64");
    let (code, stderr) = exit_code(&person, &["status"]);
    assert_eq!(code, 3, "not running: {stderr}");
    assert_eq!(exit_code(&person, &["no-such-command"]).0, 2, "usage");
    person.start(&[]);
    assert_eq!(exit_code(&person, &["status"]).0, 0);
    let (code, stderr) = exit_code(&person, &["agreements", "show", AGREEMENT]);
    assert_eq!(code, 4, "refused (not found): {stderr}");
    assert_eq!(
        exit_code(
            &person,
            &[
                "campaign",
                "publish",
                "--category",
                "apparel.shoes",
                "--field",
                "body.x",
                "--purpose",
                "research",
                "--retention",
                "30d"
            ]
        )
        .0,
        4,
        "refused (wrong role)"
    );
    assert_eq!(exit_code(&person, &["policy", "set", "/nonexistent/policy.toml"]).0, 6, "data");
    let garbage = person.dir.path().join("garbage.json");
    std::fs::write(&garbage, "{ not json").unwrap();
    assert_eq!(exit_code(&person, &["ledger", "verify", "--file", garbage.to_str().unwrap()]).0, 6, "data");
    // With --json, the error is one JSON object on stderr, with the same code.
    let output = person.run(&["--json", "agreements", "show", AGREEMENT]);
    let error: Json = serde_json::from_slice(&output.stderr).unwrap();
    assert_eq!(error["error"]["kind"], "refused");
    assert_eq!(error["error"]["exit_code"], 4);
    assert_eq!(error["error"]["problem"], "urn:me2b:problem:not-found");
    person.kill();
    let (code, stderr) = exit_code(&person, &["status"]);
    assert_eq!(code, 3, "a killed daemon's stale address: {stderr}");
}

#[test]
fn the_cli_sends_its_token_only_to_its_own_daemon() {
    use std::io::{BufRead, BufReader, Write};
    let mut person = Node::init("person", "Ada", "127.0.0.65");
    person.start(&[]);
    assert!(person.ok(&["status"]).contains("person"), "its own daemon is trusted");
    let api_file = person.dir.path().join("api.json");
    let mut found: Json = serde_json::from_str(&std::fs::read_to_string(&api_file).unwrap()).unwrap();
    person.kill();

    // Another program now listens where api.json points, and answers everything with 200.
    let impostor = std::net::TcpListener::bind("127.0.0.65:0").unwrap();
    found["address"] = json!(impostor.local_addr().unwrap().to_string());
    std::fs::write(&api_file, found.to_string()).unwrap();
    let (heard_tx, heard) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for stream in impostor.incoming().take(8) {
            let Ok(mut stream) = stream else { break };
            let mut head = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            while reader.read_line(&mut head).is_ok_and(|n| n > 2) {}
            let proof = json!({"public_key": "00", "peer_id": "x", "signature": "00"}).to_string();
            let _ = write!(stream, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{proof}", proof.len());
            let _ = heard_tx.send(head);
        }
    });
    let (code, stderr) = exit_code(&person, &["status"]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("cannot prove"), "{stderr}");
    let requests: Vec<String> = heard.try_iter().collect();
    assert!(!requests.is_empty(), "the CLI did reach the impostor, so a token sent would have been seen");
    let token = person.token();
    for request in &requests {
        assert!(!request.to_lowercase().contains("authorization"), "the token went out: {request}");
        assert!(!request.contains(&token));
    }
}

#[test]
fn the_cli_reaches_its_daemon_directly_whatever_proxy_the_environment_names() {
    let mut person = Node::init("person", "Ada", "127.0.0.76");
    person.start(&[]);
    // A proxy that would see the calls (and, relaying them, the token) were the CLI to use it.
    let proxy = std::net::TcpListener::bind("127.0.0.76:0").unwrap();
    proxy.set_nonblocking(true).unwrap();
    let url = format!("http://{}", proxy.local_addr().unwrap());
    let output = std::process::Command::new(me2b_tests::binary())
        .arg("--data-dir")
        .arg(person.dir.path())
        .arg("status")
        .envs(["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"].map(|name| (name, &url)))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("person"));
    let reached = proxy.accept();
    assert!(
        reached.as_ref().is_err_and(|error| error.kind() == std::io::ErrorKind::WouldBlock),
        "the CLI called through the proxy: {reached:?}"
    );
}

#[test]
fn a_stop_right_after_the_ready_line_is_graceful() {
    // As a service manager may: SIGTERM as soon as the daemon says it is ready. A daemon that
    // listened for it only later died of the signal, its API address left behind (a race it
    // lost about one time in three).
    let mut person = Node::init("person", "Ada", "127.0.0.77");
    for attempt in 0..15 {
        person.start_quiet(&[]);
        let status = person.terminate();
        assert!(status.success(), "attempt {attempt}: the daemon did not stop gracefully: {status:?}");
        assert!(!person.dir.path().join("api.json").exists(), "attempt {attempt}: api.json left behind");
    }
}

#[test]
fn event_ids_continue_across_a_restart_and_resume_exactly() {
    let mut business = Node::init("business", "Stride", "127.0.0.67");
    business.start(&[]);
    let mut person = Node::init("person", "Ada", "127.0.0.66");
    person.start(&[]);
    person.ok(&["connect", &business.address()]);
    let connected = person.wait_event("peer-connected", |_| true);
    let first = connected["id"].as_u64().unwrap();
    let peers = person.json(&["peers"]);
    assert!(peers.as_array().unwrap().iter().any(|p| p["peer_id"] == business.address().rsplit('/').next().unwrap()));

    person.terminate();
    person.start(&[]);
    person.ok(&["connect", &business.address()]);
    let again = person.wait_event("peer-connected", |e| e["id"].as_u64().unwrap() > first);
    let second = again["id"].as_u64().unwrap();

    // Resuming after the first event gives exactly what followed it, across the restart.
    let mut events = std::process::Command::new(binary())
        .arg("--data-dir")
        .arg(person.dir.path())
        .args(["events", "--after", &first.to_string()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let lines = json_lines(events.stdout.take().unwrap(), None);
    let mut ids = Vec::new();
    while let Ok(event) = lines.recv_timeout(std::time::Duration::from_secs(20)) {
        ids.push(event["id"].as_u64().unwrap());
        if ids.last() == Some(&second) {
            break;
        }
    }
    let _ = events.kill();
    let _ = events.wait();
    assert_eq!(ids.first(), Some(&(first + 1)), "resumes right after {first}: {ids:?}");
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "one by one, no gap after a clean restart: {ids:?}");
    assert_eq!(ids.last(), Some(&second));
}

#[test]
fn settings_doctor_id_and_manual() {
    let mut person = Node::init("person", "Ada", "127.0.0.68");
    assert_eq!(person.ok(&["config", "get", "api"]).trim(), "127.0.0.1:6429", "the default API port");
    let listen = person.json(&["config", "get", "listen"]);
    assert_eq!(listen["listen"], "/ip4/0.0.0.0/tcp/6428,/ip4/0.0.0.0/udp/6428/quic-v1");
    let (code, stderr) = exit_code(&person, &["config", "set", "mdns", "perhaps"]);
    assert_eq!(code, 2, "{stderr}");
    let (code, stderr) = exit_code(&person, &["config", "set", "colour", "red"]);
    assert!(code == 2 && stderr.contains("owner_window"), "names the valid keys: {stderr}");
    person.ok(&["config", "set", "owner_window", "3d"]);
    assert_eq!(person.ok(&["config", "get", "owner_window"]).trim(), "3d");

    // The doctor finds an API port another program holds, and says so.
    let squatter = std::net::TcpListener::bind("127.0.0.68:0").unwrap();
    person.ok(&["config", "set", "api", &squatter.local_addr().unwrap().to_string()]);
    let output = person.run(&["doctor", "--json"]);
    assert_eq!(output.status.code(), Some(6));
    let findings: Json = serde_json::from_slice(&output.stdout).unwrap();
    let ports = findings.as_array().unwrap().iter().find(|f| f["check"] == "ports").unwrap();
    assert_eq!(ports["verdict"], "fail");
    assert!(ports["detail"].as_str().unwrap().contains("in use"));
    drop(squatter);
    person.ok(&["config", "set", "api", "127.0.0.68:0"]);
    person.ok(&["config", "set", "listen", "/ip4/127.0.0.68/tcp/0"]);
    let healthy = person.ok(&["doctor"]);
    assert!(healthy.lines().all(|l| !l.starts_with("fail")), "{healthy}");

    person.ok(&["config", "set", "log_format", "json"]);
    person.start(&[]);
    let id = person.json(&["id"]);
    assert_eq!(id["addresses"][0], person.address());
    assert_eq!(id["fingerprint"].as_str().unwrap().len(), 19);
    assert!(person.ok(&["doctor"]).contains("running"));
    assert!(person.ok(&["man"]).contains(".TH me2b"));

    // JSON logs carry the request's span: its route's template, never the concrete path.
    let answered: Vec<Json> = person
        .logs()
        .lines()
        .filter_map(|line| serde_json::from_str::<Json>(line).ok())
        .filter(|line| line["fields"]["message"] == "answered")
        .collect();
    let status = answered.iter().find(|line| line["span"]["route"] == "/v1/status").expect("a logged /v1/status");
    assert_eq!(status["span"]["method"], "GET");
    assert_eq!(status["fields"]["status"], 200);
}
