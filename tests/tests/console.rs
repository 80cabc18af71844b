//! The web console, in real headless Chromium against real daemons: a person and a business
//! log in with one-time links, the business publishes a request from its page, the prompt
//! appears live on the person's page, the person approves, revokes and sees the receipt.
//! And without a browser: a wrong Host, a cross-origin POST, a spent link and a
//! non-loopback bind are refused, each next to the same call that is let through.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use me2b_tests::browser::Browser;
use me2b_tests::*;
use std::net::SocketAddr;

/// A one-time login link from `me2b open`.
fn login_link(node: &Node) -> String {
    let link = node.json(&["open", "--no-browser"]);
    link["url"].as_str().unwrap().to_owned()
}

fn code_of(link: &str) -> String {
    link.split("#login=").nth(1).unwrap().to_owned()
}

#[test]
fn a_person_decides_in_the_browser_and_the_business_sees_it() {
    let Some(browser) = Browser::start() else { return };
    let (mut person, mut business) = person_and_shoe_maker("127.0.0.151", "127.0.0.152");

    // The person logs in; the code leaves the address bar and the cookie is out of scripts' reach.
    let me = browser.page(1280, 900);
    let link = login_link(&person);
    me.goto(&link);
    me.wait_for("#nav-requests");
    let code = code_of(&link);
    assert!(!me.url().contains(&code) && !me.url().contains("login"), "{}", me.url());
    assert_eq!(me.script("return document.cookie;", vec![]), "", "the session cookie is HttpOnly");
    assert!(me.has("#no-prompts"));
    // The person allows one offer a month, in the policy form.
    me.click("#nav-policy");
    me.fill("#policy [name=max_contact]", "1/30d");
    me.click("#policy button[type=submit]");
    me.wait_text("#notice", "Policy saved");
    assert_eq!(person.json(&["policy", "show"])["max_contact"], "1/30d");
    me.click("#nav-requests");
    me.wait_for("#no-prompts");
    // A marker that a reload would wipe: the prompt must arrive on this very page.
    me.script("window.stillThisPage = true;", vec![]);

    // The business logs in and publishes the request from its own console.
    let shop = browser.page(1280, 900);
    shop.goto(&login_link(&business));
    shop.wait_for("#campaign");
    shop.fill("#campaign [name=category]", "apparel.shoes");
    shop.fill("#campaign [name=description]", "Find your next running shoe");
    shop.fill("#campaign [name=fields]", "body.shoe_size_eu");
    shop.fill("#campaign [name=retention]", "30d");
    shop.fill("#campaign [name=compensation]", "10% discount");
    shop.fill("#campaign [name=contact]", "1/30d");
    shop.script("document.querySelector('#campaign [name=purpose]').value = 'personalised-offers';", vec![]);
    shop.click("#campaign button[type=submit]");

    // The prompt appears live, in plain words, with a badge.
    me.wait_for(".prompt [data-action=approve]");
    assert_eq!(me.script("return window.stillThisPage === true;", vec![]), true, "no reload");
    me.wait_text("#badge", "1");
    let prompt = me.text(".prompt");
    for words in [
        "Stride",
        "not verified",
        "Find your next running shoe",
        "Shoe size EU",
        "offers to you personally",
        "30 days",
        "10% discount",
    ] {
        assert!(prompt.contains(words), "the prompt lacks {words:?}:\n{prompt}");
    }
    assert!(!prompt.contains(&business.json(&["status"])["public_key"].as_str().unwrap()[..16]), "no hex key");

    me.click(".prompt [data-action=approve]");
    let received = business.wait_event("data-received", |_| true);
    let agreement = received["agreement_id"].as_str().unwrap().to_owned();

    // The agreement is on both consoles.
    me.click("#nav-agreements");
    me.wait_for(&format!("[data-agreement='{agreement}'][data-state=ACTIVE]"));
    shop.click("#nav-agreements");
    shop.wait_for(&format!("[data-agreement='{agreement}'][data-state=ACTIVE]"));
    shop.click("#nav-received");
    shop.wait_text(&format!("[data-agreement='{agreement}']"), "body.shoe_size_eu");

    // The business sends a personal offer from its page; it reaches the person's Offers page.
    shop.click("#nav-agreements");
    shop.click(&format!("[data-agreement='{agreement}'] details summary.button"));
    shop.fill("form.offer [name=description]", "Pegasus 41 in EU 44");
    shop.fill("form.offer [name=price]", "99 EUR");
    shop.click("form.offer button[type=submit]");
    person.wait_event("offer-received", |e| e["agreement_id"] == agreement.as_str());
    me.click("#nav-offers");
    me.wait_text("main", "Pegasus 41 in EU 44");
    me.click("#nav-agreements");

    // The person revokes (asked twice) and the receipt appears without a reload.
    me.click(&format!("[data-agreement='{agreement}'] .actions button.quiet"));
    me.click(&format!("[data-agreement='{agreement}'] .actions button[data-confirm]"));
    me.wait_for(&format!("[data-agreement='{agreement}'] [data-receipt=yes]"));
    assert_eq!(me.script("return window.stillThisPage === true;", vec![]), true, "no reload");
    person.wait_event("deletion-receipt", |e| e["agreement_id"] == agreement.as_str());
    shop.click("#nav-receipts");
    shop.wait_text("main", "Deleted, receipt sent");

    // Another request; the person changes its terms in the page: kept 7 days, not 30.
    business.ok(SHOE_CAMPAIGN);
    me.click("#nav-requests");
    me.click(".prompt details.counter summary");
    me.fill(".prompt [name=retention]", "7d");
    me.click(".prompt details.counter button[type=submit]");
    let countered = business.wait_event("data-received", |e| e["agreement_id"] != agreement.as_str());
    let terms = person.json(&["agreements", "show", countered["agreement_id"].as_str().unwrap()])["terms"].clone();
    assert_eq!(terms["retention"], "1w", "{terms}");

    // The ledger page shows the chain verified.
    me.click("#nav-ledger");
    me.wait_text("#ledger-state", "Verified");

    // The link was spent: opening it again does not log in.
    let again = browser.page(800, 600);
    again.goto(&link);
    again.wait_for("#login");
    again.wait_text("#login", "used already or has expired");
}

/// A console session cookie, as a browser would get it from `link`.
fn session(api: SocketAddr, link: &str) -> String {
    let body = format!("{{\"code\":\"{}\"}}", code_of(link));
    let origin = format!("http://{api}");
    let answer = try_http(api, "POST", "/console/session", &[("Origin", &origin)], &body).unwrap();
    assert_eq!(answer.status, 204, "{}", answer.body);
    let cookie = answer.headers.iter().find(|(n, _)| n == "set-cookie").map(|(_, v)| v.clone()).unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    cookie.split(';').next().unwrap().to_owned()
}

#[test]
fn the_console_refuses_other_hosts_other_origins_and_spent_links() {
    let mut node = Node::init("person", "Ada", "127.0.0.153");
    node.start(&[]);
    let api = node.api();
    let origin = format!("http://{api}");

    // DNS rebinding: a page on evil.example resolved to this address is refused by Host.
    let page = http(api, "GET", "/", &[]);
    assert_eq!(page.status, 200);
    let csp = page.headers.iter().find(|(n, _)| n == "content-security-policy").map(|(_, v)| v.as_str()).unwrap();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    assert!(page.headers.iter().any(|(n, v)| n == "cache-control" && v == "no-store"));
    let wrong = raw(api, "GET /v1/status HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n");
    assert!(wrong.starts_with("HTTP/1.1 403"), "{wrong}");
    assert!(wrong.contains("host check failed"), "{wrong}");
    let right = raw(api, &format!("GET /healthz HTTP/1.1\r\nHost: {api}\r\nConnection: close\r\n\r\n"));
    assert!(right.starts_with("HTTP/1.1 200"), "the control: {right}");

    // A login link works once.
    let link = login_link(&node);
    let cookie = session(api, &link);
    let body = format!("{{\"code\":\"{}\"}}", code_of(&link));
    let spent = try_http(api, "POST", "/console/session", &[("Origin", &origin)], &body).unwrap();
    assert_eq!(spent.status, 401, "{}", spent.body);

    // Reads work with the cookie; a change needs this origin.
    assert_eq!(http(api, "GET", "/v1/data", &[("Cookie", &cookie)]).status, 200);
    let set = r#"{"value": 44}"#;
    for bad in [vec![("Cookie", cookie.as_str()), ("Origin", "http://evil.example")], vec![("Cookie", cookie.as_str())]]
    {
        let refused = try_http(api, "PUT", "/v1/data/body.shoe_size_eu", &bad, set).unwrap();
        assert_eq!(refused.status, 403, "{}", refused.body);
        assert!(refused.body.contains("cross-origin"), "{}", refused.body);
    }
    assert!(node.json(&["data", "list"]).as_array().unwrap().is_empty(), "nothing was written");
    let allowed =
        try_http(api, "PUT", "/v1/data/body.shoe_size_eu", &[("Cookie", &cookie), ("Origin", &origin)], set).unwrap();
    assert_eq!(allowed.status, 200, "the control: {}", allowed.body);

    // A console session cannot mint login links (only the token can), and logging out ends it.
    let minted = try_http(api, "POST", "/v1/console/links", &[("Cookie", &cookie), ("Origin", &origin)], "{}").unwrap();
    assert_eq!(minted.status, 403, "{}", minted.body);
    let out = try_http(api, "DELETE", "/console/session", &[("Cookie", &cookie), ("Origin", &origin)], "").unwrap();
    assert_eq!(out.status, 204);
    assert_eq!(http(api, "GET", "/v1/data", &[("Cookie", &cookie)]).status, 401);

    // The token still works without any Origin (the CLI).
    assert_eq!(node.json(&["data", "get", "body.shoe_size_eu"])["value"], 44.0);
}

#[test]
fn the_daemon_refuses_a_non_loopback_api_without_the_flag() {
    let node = Node::init("person", "Ada", "127.0.0.154");
    let refused = node.fails(&["daemon", "--api", "0.0.0.0:0", "--listen", "/ip4/127.0.0.154/tcp/0", "--no-mdns"]);
    assert!(refused.contains("not a loopback address") && refused.contains("--allow-remote-api"), "{refused}");
}

/// Sends `request` as it is and returns the whole answer.
fn raw(api: SocketAddr, request: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(api).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

/// Every page of both consoles, on a node with something in each, renders at desktop and
/// phone width without an error. With `ME2B_SCREENSHOTS=DIR` (`examples/screenshots.sh`) it
/// also writes each page as a PNG: the README's screenshots.
#[test]
fn every_page_renders_at_desktop_and_phone_width() {
    let out = std::env::var_os("ME2B_SCREENSHOTS").map(std::path::PathBuf::from);
    if let Some(out) = &out {
        std::fs::create_dir_all(out).unwrap();
    }
    let Some(browser) = Browser::start() else { return };

    let mut business = Node::init("business", "Stride", "127.0.0.155");
    business.start(&[]);
    let catalog = business.dir.path().join("catalog.toml");
    std::fs::write(&catalog, SHOE_CATALOG).unwrap();
    business.ok(&["catalog", "set", catalog.to_str().unwrap()]);
    business.ok(&["subscribe", "apparel.shoes"]);
    let mut person = Node::init("person", "Ada", "127.0.0.156");
    person.start(&[business.address()]);
    person.ok(&["subscribe", "apparel.shoes"]);
    let mut policy = person.json(&["policy", "show"]);
    policy["max_contact"] = "2/30d".into();
    let policy_file = person.dir.path().join("policy.json");
    std::fs::write(&policy_file, policy.to_string()).unwrap();
    person.ok(&["policy", "set", policy_file.to_str().unwrap()]);
    person.ok(&["data", "set", "body.shoe_size_eu", "44"]);
    person.ok(&["data", "import", example("health/me.vcf").to_str().unwrap()]);
    person.ok(&["data", "import", example("runner/easy.gpx").to_str().unwrap()]);
    business.wait_event("peer-subscribed", |e| e["topic"] == "me2b/v1/requests/apparel.shoes");
    person.wait_event("peer-subscribed", |e| e["topic"] == "me2b/v1/intents/apparel.shoes");

    // An agreement with offers, one revoked with its receipt, one request still waiting.
    let mut with_contact = SHOE_CAMPAIGN.to_vec();
    with_contact.extend(["--contact", "1/30d", "--description", "Your next running shoe"]);
    business.ok(&with_contact);
    let pending = person.wait_event("awaiting-owner", |_| true);
    person.ok(&["approve", pending["negotiation_id"].as_str().unwrap()]);
    let kept = business.wait_event("data-received", |_| true)["agreement_id"].as_str().unwrap().to_owned();
    business.ok(&["offer", "send", "--agreement", &kept, "--description", "Pegasus 41 in EU 44", "--price", "99 EUR"]);
    person.wait_event("offer-received", |_| true);

    let survey = [
        "campaign",
        "publish",
        "--category",
        "apparel.shoes",
        "--field",
        "body.shoe_size_eu",
        "--purpose",
        "product-development",
        "--retention",
        "90d",
        "--compensation",
        "5 EUR",
        "--description",
        "Sizing survey",
    ];
    business.ok(&survey);
    let pending = person.wait_event("awaiting-owner", |e| e["negotiation_id"] != pending["negotiation_id"]);
    person.ok(&["approve", pending["negotiation_id"].as_str().unwrap()]);
    let revoked = business.wait_event("data-received", |e| e["agreement_id"] != kept.as_str());
    person.ok(&["revoke", revoked["agreement_id"].as_str().unwrap()]);
    person.wait_event("deletion-receipt", |_| true);

    business.ok(&[
        "campaign",
        "publish",
        "--category",
        "apparel.shoes",
        "--field",
        "profile.birthdate:age >= 18",
        "--field",
        "body.shoe_size_eu",
        "--purpose",
        "personalised-offers",
        "--retention",
        "14d",
        "--compensation",
        "15% discount",
        "--description",
        "Members' early access",
    ]);
    person.wait_event("awaiting-owner", |e| e["negotiation_id"] != pending["negotiation_id"]);
    person.ok(&["intent", "publish", "--category", "apparel.shoes", "--spec", "size_eu=44", "--max-price", "120 EUR"]);
    business.wait_event("intent-seen", |_| true);

    for (node, pages) in [
        (&person, &["requests", "data", "agreements", "intents", "offers", "ledger", "policy"][..]),
        (&business, &["campaigns", "received", "agreements", "receipts", "demand", "catalog", "ledger"][..]),
    ] {
        let role = if pages[0] == "requests" { "person" } else { "business" };
        for (width, size) in [(1280, "desktop"), (390, "mobile")] {
            let page = browser.page(width, 900);
            page.goto(&login_link(node));
            page.wait_for("#nav a");
            for name in pages {
                page.click(&format!("#nav-{name}"));
                page.wait_for(&format!("#nav-{name}[aria-current=page]"));
                page.wait_for("main h1");
                assert!(!page.has("main [role=alert]"), "{role} {name} at {width} px: {}", page.text("main"));
                // Read in one script: a live update may replace the heading between a WebDriver
                // find and its text (a stale element reads as empty).
                let heading =
                    page.script("const h = document.querySelector('main h1'); return h ? h.innerText : '';", vec![]);
                assert!(heading.as_str().is_some_and(|h| !h.is_empty()), "{role} {name}: no heading");
                if let Some(out) = &out {
                    page.screenshot(width, &out.join(format!("{role}-{name}-{size}.png")));
                }
            }
        }
    }
}
