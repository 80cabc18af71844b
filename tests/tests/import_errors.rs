//! `me2b data import` against a real daemon: a malformed file is refused with its position and
//! changes nothing, a CSV needs its mapping, an unknown file needs `--format`, a business
//! cannot import, and the API refuses a request without the token.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use me2b_tests::*;

#[test]
fn malformed_files_are_refused_with_their_position_and_change_nothing() {
    let mut person = Node::init("person", "Ada", "127.0.0.66");
    person.start(&[]);
    let easy = example("runner/easy.gpx");
    person.ok(&["data", "import", easy.to_str().unwrap()]);
    let before = person.json(&["data", "list"]);

    let long = std::fs::read(example("runner/long.gpx")).unwrap();
    let truncated = person.dir.path().join("long.gpx");
    std::fs::write(&truncated, &long[..long.len() / 2]).unwrap();
    let error = person.fails(&["data", "import", truncated.to_str().unwrap()]);
    assert!(error.contains("line ") && error.contains("XML"), "{error}");

    let bundle = std::fs::read_to_string(example("health/bundle.json")).unwrap();
    let broken = person.dir.path().join("broken.json");
    std::fs::write(&broken, bundle.replacen("\"final\",", "\"final\" x", 1)).unwrap();
    let error = person.fails(&["data", "import", broken.to_str().unwrap()]);
    assert!(error.contains("line ") && error.contains(" column "), "{error}");

    let runs = example("runner/runs.csv");
    let error = person.fails(&["data", "import", runs.to_str().unwrap()]);
    assert!(error.contains("map=COLUMN=PATH"), "{error}");
    let error = person.fails(&["data", "import", runs.to_str().unwrap(), "--map", "nope=activity.x"]);
    assert!(error.contains("no column \"nope\""), "{error}");
    let unknown = person.dir.path().join("notes.txt");
    std::fs::write(&unknown, "hello").unwrap();
    assert!(person.fails(&["data", "import", unknown.to_str().unwrap()]).contains("--format"));
    let error = person.fails(&["data", "import", easy.to_str().unwrap(), "--format", "tcx"]);
    assert!(error.contains("line "), "a GPX file read as TCX: {error}");

    assert_eq!(person.json(&["data", "list"]), before, "nothing of a refused file is stored");
    let without_token = http(person.api(), "POST", "/v1/imports?format=gpx", &[]);
    assert_eq!(without_token.status, 401);

    let mut business = Node::init("business", "Stride", "127.0.0.67");
    business.start(&[]);
    let error = business.fails(&["data", "import", easy.to_str().unwrap()]);
    assert!(error.contains("person"), "{error}");
    // A refusal that comes before the body is read still reaches a client that is sending.
    let big = business.dir.path().join("big.gpx");
    std::fs::write(&big, vec![b' '; 8 * 1024 * 1024]).unwrap();
    let error = business.fails(&["data", "import", big.to_str().unwrap()]);
    assert!(error.contains("person"), "{error}");
}
