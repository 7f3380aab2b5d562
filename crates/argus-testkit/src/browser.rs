//! A real browser for the dashboard's tests: Debian's `chromium` driven by
//! its `chromedriver` over the W3C WebDriver protocol (plain JSON over
//! HTTP, so the kit's own blocking HTTP/1.1 suffices: no client crate, no
//! async runtime, usable from any test).
//!
//! [`Browser::start`] runs chromedriver on a free loopback port and opens
//! a headless session with a fresh profile directory (no state shared
//! between tests, no network chatter: background networking, component
//! updates, sync and QUIC are off); dropping the [`Browser`] ends the
//! session, kills chromedriver and removes the profile. Only what the
//! tests use is here: navigate, find by CSS, click, type, read text, run a
//! script, resize the window, save a screenshot.
//!
//! A machine without the browser fails the test with the command that
//! installs it ([`Browser::start_or_skip`] skips instead only when
//! `ARGUS_SKIP_BROWSER=1`, and says so), so a missing browser is never a
//! silent pass.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fixtures::free_port;
use crate::http;

/// Where Debian installs them (`apt-get install chromium chromium-driver`).
pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The W3C key of an element reference in WebDriver answers.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long one WebDriver call may take (a navigation waits for the load).
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// A headless chromium session; ended, and its driver killed, on drop.
#[derive(Debug)]
pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
    profile: PathBuf,
}

/// An element of the current page.
#[derive(Debug, Clone)]
pub struct Element(String);

impl Browser {
    /// Starts chromedriver and a headless chromium session.
    ///
    /// # Panics
    /// When chromium or chromedriver is missing (saying how to install
    /// them), or the session cannot start.
    pub fn start() -> Self {
        for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
            assert!(
                Path::new(path).exists(),
                "{path} is missing: install the browser the dashboard tests drive with \
                 `apt-get install -y chromium chromium-driver` (Debian's {package}), or set \
                 ARGUS_SKIP_BROWSER=1 to skip these tests knowingly"
            );
        }
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {CHROMEDRIVER}: {error}"));
        static PROFILES: AtomicU32 = AtomicU32::new(0);
        let profile = std::env::temp_dir().join(format!(
            "argus-chromium-{}-{}",
            std::process::id(),
            PROFILES.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).unwrap_or_else(|error| {
            panic!(
                "cannot make chromium's profile {}: {error}",
                profile.display()
            )
        });
        let mut browser = Self {
            driver,
            port,
            session: String::new(),
            profile,
        };
        crate::wait_for(
            "chromedriver to answer /status",
            Duration::from_secs(20),
            || {
                let (status, body) =
                    http::request(port, "GET", "/status", None, Duration::from_secs(2)).ok()?;
                let ready = serde_json::from_slice::<Value>(&body).ok()?["value"]["ready"] == true;
                (status == 200 && ready).then_some(())
            },
        );
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            &format!("--user-data-dir={}", browser.profile.display()),
        ];
        let created = browser.call(
            "POST",
            "/session",
            Some(json!({
                "capabilities": { "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
                }}
            })),
        );
        browser.session = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("chromedriver gave no session: {created}"))
            .to_owned();
        browser
    }

    /// [`Browser::start`], or `None` (printed) when `ARGUS_SKIP_BROWSER=1`.
    pub fn start_or_skip(test: &str) -> Option<Self> {
        if std::env::var("ARGUS_SKIP_BROWSER").is_ok_and(|v| v == "1") {
            eprintln!("{test}: skipped, ARGUS_SKIP_BROWSER=1 (no browser was started)");
            return None;
        }
        Some(Self::start())
    }

    /// One WebDriver command; its `value`.
    ///
    /// # Panics
    /// When the driver cannot be reached or answers an error.
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.try_call(method, path, body)
            .unwrap_or_else(|error| panic!("chromedriver {method} {path}: {error}"))
    }

    /// One WebDriver command; its `value`, or the driver's error (its
    /// status and answer) as text.
    ///
    /// # Panics
    /// When the driver cannot be reached.
    fn try_call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let body = body.map(|b| b.to_string());
        let (status, answer) = http::request(
            self.port,
            method,
            path,
            body.as_deref().map(str::as_bytes),
            CALL_TIMEOUT,
        )
        .unwrap_or_else(|error| panic!("chromedriver {method} {path}: {error}"));
        let answer: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
        if status == 200 {
            Ok(answer["value"].clone())
        } else {
            Err(format!("answered {status}: {answer}"))
        }
    }

    fn session_call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.call(method, &format!("/session/{}{path}", self.session), body)
    }

    /// Loads `url` (waits for the document's load).
    pub fn goto(&self, url: &str) {
        self.session_call("POST", "/url", Some(json!({ "url": url })));
    }

    /// The first element matching `css`, if any.
    pub fn find(&self, css: &str) -> Option<Element> {
        let found = self.session_call(
            "POST",
            "/elements",
            Some(json!({ "using": "css selector", "value": css })),
        );
        found
            .as_array()
            .and_then(|all| all.first())
            .and_then(|e| e[ELEMENT_KEY].as_str())
            .map(|id| Element(id.to_owned()))
    }

    /// Waits until an element matches `css`.
    ///
    /// # Panics
    /// When none does within `timeout`.
    pub fn wait_for_element(&self, css: &str, timeout: Duration) -> Element {
        crate::wait_for(&format!("an element `{css}`"), timeout, || self.find(css))
    }

    /// Waits until the text of the element matching `css` contains
    /// `needle`; that text. Read in one script call, so a page that
    /// redraws the element in between is read again, not an error.
    ///
    /// # Panics
    /// When it does not within `timeout`, showing the text last seen.
    pub fn wait_for_text(&self, css: &str, needle: &str, timeout: Duration) -> String {
        let start = Instant::now();
        let mut last = String::new();
        loop {
            let text = self.execute(
                "const el = document.querySelector(arguments[0]); return el ? el.innerText : null;",
                &[Value::from(css)],
            );
            if let Some(text) = text.as_str() {
                last = text.to_owned();
                if last.contains(needle) {
                    return last;
                }
            }
            assert!(
                start.elapsed() < timeout,
                "`{needle}` did not appear in `{css}` within {timeout:?}; its text: {last:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Clicks the first element matching `css`, as a person would, once
    /// there is one; found again if the page redraws it in between.
    ///
    /// # Panics
    /// When no click lands within `timeout`.
    pub fn click_on(&self, css: &str, timeout: Duration) {
        let mut last = String::from("no such element");
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Some(element) = self.find(css) {
                let path = format!("/session/{}/element/{}/click", self.session, element.0);
                match self.try_call("POST", &path, Some(json!({}))) {
                    Ok(_) => return,
                    Err(error) => last = error,
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("could not click `{css}` within {timeout:?}: {last}");
    }

    pub fn click(&self, element: &Element) {
        self.session_call(
            "POST",
            &format!("/element/{}/click", element.0),
            Some(json!({})),
        );
    }

    /// Empties an input.
    pub fn clear(&self, element: &Element) {
        self.session_call(
            "POST",
            &format!("/element/{}/clear", element.0),
            Some(json!({})),
        );
    }

    /// Types `text` into the element.
    pub fn send_keys(&self, element: &Element, text: &str) {
        self.session_call(
            "POST",
            &format!("/element/{}/value", element.0),
            Some(json!({ "text": text })),
        );
    }

    /// The element's rendered text.
    pub fn text(&self, element: &Element) -> String {
        self.session_call("GET", &format!("/element/{}/text", element.0), None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the
    /// page; what it returns.
    pub fn execute(&self, script: &str, args: &[Value]) -> Value {
        self.session_call(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
    }

    /// Resizes the window (390×844 is a phone).
    pub fn set_window_size(&self, width: u32, height: u32) {
        self.session_call(
            "POST",
            "/window/rect",
            Some(json!({ "width": width, "height": height })),
        );
    }

    /// Saves a PNG of the viewport at `path` (its directory created).
    pub fn screenshot(&self, path: &Path) {
        use base64::Engine as _;
        let encoded = self.session_call("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().unwrap_or_default())
            .unwrap_or_else(|error| panic!("the screenshot is not base64: {error}"));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .unwrap_or_else(|error| panic!("cannot make {}: {error}", dir.display()));
        }
        std::fs::write(path, png)
            .unwrap_or_else(|error| panic!("cannot write {}: {error}", path.display()));
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let path = format!("/session/{}", self.session);
            let _ = http::request(self.port, "DELETE", &path, None, Duration::from_secs(10));
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Where a test keeps what a person reviews (screenshots):
/// `$CARGO_TARGET_DIR/test-output/<name>` (or `target/` in the workspace).
pub fn test_output(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| crate::workspace_root().join("target"), PathBuf::from);
    target.join("test-output").join(name)
}
