//! Bad command-line input is refused with a message that says what was wrong and what to do.

use me2b_tests::*;

#[test]
fn bad_input_gets_a_clear_error() {
    // No data directory yet.
    let empty = Node::init("business", "Stride", "127.0.0.42");
    let nowhere = empty.dir.path().join("nowhere");
    let output = std::process::Command::new(binary()).arg("--data-dir").arg(&nowhere).arg("status").output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("not a me2b data directory") && stderr.contains("me2b init"), "{stderr}");

    // The daemon is not running.
    let mut business = empty;
    let stopped = business.fails(&["status"]);
    assert!(stopped.contains("daemon is not running") && stopped.contains("daemon"), "{stopped}");
    // A second init is refused.
    assert!(business.fails(&["init", "--role", "business", "--name", "X", "--no-passphrase"]).contains("already"));
    // An unknown role is refused by the parser.
    let role = business.fails(&["init", "--role", "robot", "--name", "X", "--no-passphrase"]);
    assert!(role.contains("person") && role.contains("business"), "{role}");

    business.start(&[]);
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "campaign",
                "publish",
                "--category",
                "apparel.shoes",
                "--field",
                "body.shoe_size_eu",
                "--purpose",
                "personalised-offers",
                "--retention",
                "30 days",
            ],
            "e.g. 30d",
        ),
        (
            &[
                "campaign",
                "publish",
                "--category",
                "apparel.shoes",
                "--field",
                "body.shoe_size_eu",
                "--purpose",
                "selling",
                "--retention",
                "30d",
            ],
            "personalised-offers",
        ),
        (
            &[
                "campaign",
                "publish",
                "--category",
                "apparel.shoes",
                "--field",
                "Body Size",
                "--purpose",
                "research",
                "--retention",
                "30d",
            ],
            "field path",
        ),
        (
            &[
                "campaign",
                "publish",
                "--category",
                "shoes!",
                "--field",
                "body.shoe_size_eu",
                "--purpose",
                "research",
                "--retention",
                "30d",
            ],
            "category",
        ),
        (
            &[
                "campaign",
                "publish",
                "--category",
                "apparel.shoes",
                "--field",
                "body.shoe_size_eu",
                "--purpose",
                "research",
                "--retention",
                "30d",
                "--compensation",
                "150% discount",
            ],
            "1% to 100%",
        ),
        (&["data", "set", "body.shoe_size_eu", "44"], "only a person node"),
        (&["agreements", "show", "xyz"], "not an agreement id"),
        (&["offer", "send", "--agreement", "00", "--description", "x", "--price", "ten euros"], "agreement id"),
    ];
    for (args, expected) in cases {
        let error = business.fails(args);
        assert!(error.contains(expected), "`me2b {}` said: {error}", args.join(" "));
    }
}

#[test]
fn output_to_a_pipe_closed_early_ends_quietly() {
    let mut business = Node::init("business", "Stride", "127.0.0.47");
    business.start(&[]);
    for args in [&["status"][..], &["status", "--json"], &["policy", "show"]] {
        let mut child = std::process::Command::new(binary())
            .arg("--data-dir")
            .arg(business.dir.path())
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before the command writes (as `| head` does once it has enough).
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "`me2b {}` panicked: {stderr}", args.join(" "));
        assert!(output.status.success(), "`me2b {}`: {:?} {stderr}", args.join(" "), output.status);
    }
}
