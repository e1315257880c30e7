//! A real headless Chromium driven over WebDriver (Debian's chromium and chromium-driver, which
//! the test command installs), wrapped in blocking calls so browser steps and plain HTTP checks
//! read in order. Every wait is for something the page shows.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const WAIT: Duration = Duration::from_secs(15);

pub struct Browser {
    driver: Child,
    client: Option<Client>,
    rt: tokio::runtime::Runtime,
    _profile: tempfile::TempDir,
}

/// ChromeDriver's own log endpoint: what the page wrote on its console.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({"type": "browser"}).to_string()),
        )
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Browser {
    pub fn start() -> Browser {
        assert!(
            Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists(),
            "chromium and chromium-driver are needed (scripts/test installs them)"
        );
        let port = free_port();
        let mut driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let out = driver.stdout.take().expect("chromedriver stdout");
        let mut lines = BufReader::new(out).lines();
        loop {
            match lines.next() {
                Some(Ok(l)) if l.contains("started successfully") => break,
                Some(Ok(_)) => continue,
                _ => panic!("chromedriver did not start"),
            }
        }
        std::thread::spawn(move || for _ in lines {});
        let profile = tempfile::tempdir().expect("profile dir");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let caps = json!({
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                    "--window-size=1280,900",
                    // The gateway's TLS listener serves its own generated certificate.
                    "--ignore-certificate-errors",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        });
        let caps = caps.as_object().cloned().expect("an object");
        let client = rt
            .block_on(
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                    .capabilities(caps)
                    .connect(&format!("http://127.0.0.1:{port}")),
            )
            .expect("a WebDriver session");
        Browser {
            driver,
            client: Some(client),
            rt,
            _profile: profile,
        }
    }

    fn c(&self) -> &Client {
        self.client.as_ref().expect("a session")
    }

    pub fn goto(&self, url: &str) {
        self.rt.block_on(self.c().goto(url)).expect("goto");
    }

    pub fn url(&self) -> String {
        self.rt
            .block_on(self.c().current_url())
            .expect("url")
            .to_string()
    }

    /// Waits until `css` is on the page.
    pub fn wait(&self, css: &str) -> fantoccini::elements::Element {
        self.rt
            .block_on(self.c().wait().at_most(WAIT).for_element(Locator::Css(css)))
            .unwrap_or_else(|e| panic!("{css} never appeared on {}: {e}", self.url()))
    }

    /// Waits until the element at `css` shows text containing `needle`; returns the text.
    pub fn wait_text(&self, css: &str, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let text = self.text(css);
            if text.contains(needle) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "{css} shows {text:?}, never {needle:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The text of the element at `css`, once there (a page being replaced by the next one is
    /// read again).
    pub fn text(&self, css: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let el = self.wait(css);
            match self.rt.block_on(el.text()) {
                Ok(t) => return t,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("{css}: {e}"),
            }
        }
    }

    /// Replaces the value of the input at `css` with `value`.
    pub fn fill(&self, css: &str, value: &str) {
        let el = self.wait(css);
        self.rt.block_on(el.clear()).expect("clear");
        self.rt.block_on(el.send_keys(value)).expect("type");
    }

    /// Picks the option `value` of the select at `css`.
    pub fn select(&self, css: &str, value: &str) {
        self.click(&format!("{css} option[value='{value}']"));
    }

    pub fn click(&self, css: &str) {
        let el = self.wait(css);
        self.rt.block_on(el.click()).expect("click");
    }

    /// Clicks the button whose text is `label`.
    pub fn click_button(&self, label: &str) {
        let xpath = format!("//button[normalize-space()='{label}']");
        let el = self
            .rt
            .block_on(
                self.c()
                    .wait()
                    .at_most(WAIT)
                    .for_element(Locator::XPath(&xpath)),
            )
            .unwrap_or_else(|e| panic!("no button {label:?} on {}: {e}", self.url()));
        self.rt.block_on(el.click()).expect("click");
    }

    pub fn script(&self, js: &str) -> Value {
        self.rt
            .block_on(self.c().execute(js, vec![]))
            .expect("script")
    }

    /// Runs `js` as an asynchronous script: it ends by calling its last argument with the
    /// result (WebDriver's execute/async), which is returned.
    pub fn script_async(&self, js: &str) -> Value {
        self.rt
            .block_on(self.c().execute_async(js, vec![]))
            .expect("async script")
    }

    pub fn source(&self) -> String {
        self.rt.block_on(self.c().source()).expect("source")
    }

    pub fn screenshot(&self, path: &Path) {
        let png = self.rt.block_on(self.c().screenshot()).expect("screenshot");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot dir");
        }
        std::fs::write(path, png).expect("write screenshot");
    }

    /// Errors the pages wrote on the console since the last call. A page answered with an error
    /// status on purpose (a refused form is a 400 page) is logged by Chromium as a failed load:
    /// that one is not counted, but a failed script, style or fetch is.
    pub fn console_errors(&self) -> Vec<String> {
        let log = self
            .rt
            .block_on(self.c().issue_cmd(BrowserLog))
            .expect("browser log");
        log.as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["level"] == "SEVERE")
            .filter(|e| {
                let m = e["message"].as_str().unwrap_or_default();
                let page_status = m.contains("Failed to load resource: the server responded")
                    && !m.contains("/assets/")
                    && !m.contains("/dashboard/");
                !page_status
            })
            .map(|e| e["message"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(c) = self.client.take() {
            let _ = self.rt.block_on(c.close());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
