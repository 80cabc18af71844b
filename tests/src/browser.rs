//! A real browser for the console tests: Debian's `chromium`, headless, driven over WebDriver
//! by `chromedriver` and `fantoccini`.
//!
//! [`Browser::start`] returns `None` (and says so loudly on stderr) when chromium or
//! chromedriver is not installed, so that a machine without them skips the browser tests
//! visibly; `.ci/run` installs both. Each [`Page`] is its own browser profile (its own
//! cookies), so a person's and a business's console can run side by side.

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value as Json, json};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;
use tempfile::TempDir;

use crate::WAIT;

/// A running chromedriver.
pub struct Browser {
    driver: Child,
    url: String,
    runtime: tokio::runtime::Runtime,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn find(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    names
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .chain(names.iter().map(|name| Path::new("/usr/bin").join(name)))
        .find(|candidate| candidate.is_file())
}

impl Browser {
    /// Starts chromedriver on a free loopback port, or `None` (said on stderr) if chromium or
    /// chromedriver is missing.
    pub fn start() -> Option<Browser> {
        let (Some(chromium), Some(driver)) = (find(&["chromium", "chromium-browser"]), find(&["chromedriver"])) else {
            eprintln!(
                "\n!!!!!!!! SKIPPED: the console browser tests need Debian's `chromium` and `chromium-driver` \
                 (apt-get install chromium chromium-driver) !!!!!!!!\n"
            );
            return None;
        };
        let _ = chromium;
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let mut driver = Command::new(driver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        // Ready when it says so on stdout (the rest of its output is drained and dropped).
        let (ready, started) = std::sync::mpsc::channel();
        let stdout = driver.stdout.take().expect("chromedriver's stdout");
        std::thread::spawn(move || {
            use std::io::BufRead as _;
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("started successfully") {
                    let _ = ready.send(());
                }
            }
        });
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        let browser = Browser { driver, url: format!("http://127.0.0.1:{port}"), runtime };
        started.recv_timeout(WAIT).expect("chromedriver said it started");
        Some(browser)
    }

    /// A new headless browser window with its own profile, `width`×`height` pixels.
    pub fn page(&self, width: u32, height: u32) -> Page<'_> {
        let profile = tempfile::tempdir().expect("a profile directory");
        let chromium = find(&["chromium", "chromium-browser"]).expect("chromium");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--no-first-run", "--lang=en-GB", "--hide-scrollbars",
                         format!("--window-size={width},{height}"),
                         format!("--user-data-dir={}", profile.path().display())],
            }),
        );
        capabilities.insert("timeouts".into(), json!({"script": WAIT.as_millis() as u64}));
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = self
            .runtime
            .block_on(ClientBuilder::new(connector).capabilities(capabilities).connect(&self.url))
            .expect("a chromium session");
        let page = Page { browser: self, client: Some(client), _profile: profile };
        page.resize(width, height);
        page
    }
}

/// One browser window.
pub struct Page<'a> {
    browser: &'a Browser,
    client: Option<Client>,
    _profile: TempDir,
}

impl Drop for Page<'_> {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let _ = self.browser.runtime.block_on(client.close());
        }
    }
}

impl Page<'_> {
    fn client(&self) -> &Client {
        self.client.as_ref().expect("an open window")
    }

    fn run<T>(&self, work: impl std::future::Future<Output = T>) -> T {
        self.browser.runtime.block_on(work)
    }

    /// Opens `url`.
    pub fn goto(&self, url: &str) {
        self.run(self.client().goto(url)).expect("the page opens");
    }

    /// The address bar.
    pub fn url(&self) -> String {
        self.run(self.client().current_url()).expect("the url").to_string()
    }

    /// Runs `script` (a function body; `arguments[i]` are `args`) and returns its value.
    pub fn script(&self, script: &str, args: Vec<Json>) -> Json {
        self.run(self.client().execute(script, args)).expect("the script runs")
    }

    /// Waits (bounded) until `css` matches an element.
    pub fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        self.run(self.client().wait().at_most(WAIT).for_element(Locator::Css(css))).unwrap_or_else(|e| {
            panic!("`{css}` did not appear within {WAIT:?}: {e}\npage text:\n{}", self.text("body"))
        })
    }

    /// Waits (bounded) until the text of `css` contains `text`: the page itself watches its
    /// DOM (a MutationObserver) and answers as soon as the text is there.
    pub fn wait_text(&self, css: &str, text: &str) {
        const WATCH: &str = r#"
            const [css, text, ms, done] = arguments;
            const holds = () => { const el = document.querySelector(css); return !!el && el.innerText.includes(text); };
            if (holds()) { done(true); return; }
            const observer = new MutationObserver(() => { if (holds()) { observer.disconnect(); done(true); } });
            observer.observe(document, { subtree: true, childList: true, characterData: true, attributes: true });
            setTimeout(() => { observer.disconnect(); done(holds()); }, ms);
        "#;
        // The page gives up a little before WebDriver's own script timeout would.
        let ms = WAIT.as_millis().saturating_sub(2000) as u64;
        let found = self.run(self.client().execute_async(WATCH, vec![json!(css), json!(text), json!(ms)]));
        assert!(
            found.as_ref().is_ok_and(|v| v == &json!(true)),
            "`{css}` did not say {text:?} within {ms} ms ({found:?}):\n{}",
            self.text("body")
        );
    }

    /// Whether `css` matches an element now.
    pub fn has(&self, css: &str) -> bool {
        self.run(self.client().find_all(Locator::Css(css))).is_ok_and(|found| !found.is_empty())
    }

    /// The text of the first element matching `css` (empty if none).
    pub fn text(&self, css: &str) -> String {
        self.run(async {
            match self.client().find(Locator::Css(css)).await {
                Ok(element) => element.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            }
        })
    }

    /// Clicks the first element matching `css`, once it exists (again if the page replaced
    /// it between finding and clicking, as a live update does).
    pub fn click(&self, css: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let element = self.wait_for(css);
            match self.run(element.click()) {
                Ok(()) => return,
                Err(error) if Instant::now() < deadline && error.to_string().contains("stale element") => {}
                Err(error) => panic!("cannot click `{css}`: {error}"),
            }
        }
    }

    /// Types `text` into the first element matching `css`, replacing what it held.
    pub fn fill(&self, css: &str, text: &str) {
        let element = self.wait_for(css);
        self.run(async {
            element.clear().await?;
            element.send_keys(text).await
        })
        .unwrap_or_else(|e| panic!("cannot type into `{css}`: {e}"));
    }

    /// Resizes the window.
    pub fn resize(&self, width: u32, height: u32) {
        self.run(self.client().set_window_size(width, height)).expect("the window resizes");
    }

    /// A PNG of the whole page at `width` pixels wide, written to `path`.
    pub fn screenshot(&self, width: u32, path: &Path) {
        // Measured in a short window (a tall one from the last page would pad this one), then
        // again until the window holds the whole page.
        self.resize(width, 600);
        let measure = || {
            let script = "return Math.max(document.documentElement.scrollHeight, document.body.scrollHeight) \
                          - window.innerHeight + window.outerHeight;";
            (self.script(script, vec![]).as_u64().unwrap_or(900) as u32).clamp(600, 6000)
        };
        for _ in 0..3 {
            let height = measure();
            self.resize(width, height);
            if measure() <= height {
                break;
            }
        }
        self.script("window.scrollTo(0, 0);", vec![]);
        let png = self.run(self.client().screenshot()).expect("a screenshot");
        std::fs::write(path, png).expect("the screenshot is written");
    }
}
