//! The local API refuses calls without the token or with a wrong one, sends no CORS headers,
//! and serves health, readiness and its OpenAPI document without a token.

use me2b_tests::*;

#[test]
fn the_api_needs_the_token() {
    let mut node = Node::init("person", "Ada", "127.0.0.41");
    node.start(&[]);
    let api = node.api();
    let token = node.token();

    let missing = http(api, "GET", "/v1/status", &[]);
    assert_eq!(missing.status, 401);
    assert!(missing.body.contains("missing API token"), "{}", missing.body);
    assert!(missing.headers.contains(&("content-type".into(), "application/problem+json".into())));
    assert!(missing.body.contains("urn:me2b:problem:unauthorized"), "{}", missing.body);
    let wrong = http(api, "GET", "/v1/data", &[("Authorization", "Bearer 0000")]);
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("wrong API token"));
    assert_eq!(http(api, "GET", "/metrics", &[]).status, 401);
    assert_eq!(http(api, "GET", "/v1/events", &[]).status, 401);

    let bearer = format!("Bearer {token}");
    let status = http(api, "GET", "/v1/status", &[("Authorization", &bearer)]);
    assert_eq!(status.status, 200);
    assert!(status.body.contains("\"role\":\"person\""));
    let metrics = http(api, "GET", "/metrics", &[("Authorization", &bearer)]);
    assert_eq!(metrics.status, 200);
    assert!(metrics.body.contains("me2b_connected_peers"));
    assert!(metrics.body.contains("me2b_gossipsub_heartbeat_duration"), "{}", metrics.body);
    assert_eq!(metrics.body.matches("# EOF").count(), 1, "one exposition, not two");
    assert!(metrics.body.ends_with("# EOF\n"), "OpenMetrics ends with its marker");

    // A page from another origin gets no CORS permission.
    let cross = http(api, "GET", "/v1/status", &[("Authorization", &bearer), ("Origin", "https://evil.example")]);
    assert!(cross.headers.iter().all(|(name, _)| !name.starts_with("access-control-")), "{:?}", cross.headers);

    assert_eq!(http(api, "GET", "/healthz", &[]).status, 200);
    assert_eq!(http(api, "GET", "/readyz", &[]).status, 200);
    let openapi = http(api, "GET", "/v1/openapi.json", &[]);
    assert_eq!(openapi.status, 200);
    assert!(openapi.body.contains("/v1/agreements/{id}/revoke"));

    // The CLI with a damaged token file says so.
    std::fs::write(node.dir.path().join("api-token"), "not-the-token").unwrap();
    let refused = node.fails(&["status"]);
    assert!(refused.contains("refused the API token"), "{refused}");
}
