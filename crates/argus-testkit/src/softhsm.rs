//! SoftHSM (Debian's `softhsm2`): a real PKCS#11 token per test.
//!
//! Each [`SoftHsm`] has its own token directory and `softhsm2.conf` in a
//! temporary directory (removed on drop), and one token initialised with
//! `softhsm2-util --init-token --free`. SoftHSM reads `SOFTHSM2_CONF` once,
//! when the module is initialised, and a test binary's environment cannot
//! be changed safely while its tests run on several threads, so:
//!
//! - tests that run the `argus` binary pass [`SoftHsm::envs`] to it;
//! - in-process tests call [`SoftHsm::in_child`], which runs the same test
//!   again in a child process of the test binary with that environment (the
//!   body runs in the child, the parent checks that it passed).
//!
//! A missing module fails the test, as CI must install `softhsm2`; only
//! when `ARGUS_TEST_ALLOW_NO_SOFTHSM=1` is set does the test skip, loudly.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// Where Debian (and others) install SoftHSM's module.
pub const SOFTHSM_MODULES: &[&str] = &[
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
];

/// Set to `1` to let the SoftHSM tests skip when the module is missing.
pub const ALLOW_NO_SOFTHSM: &str = "ARGUS_TEST_ALLOW_NO_SOFTHSM";

/// The user PIN of every test token.
pub const USER_PIN: &str = "246810";
const SO_PIN: &str = "13579111";
const CHILD: &str = "ARGUS_TEST_SOFTHSM_CHILD";
const TOKEN: &str = "ARGUS_TEST_SOFTHSM_TOKEN";

/// A SoftHSM token directory with one initialised token.
#[derive(Debug)]
pub struct SoftHsm {
    /// The module to load.
    pub module: PathBuf,
    /// The `softhsm2.conf` that points at this token directory.
    pub conf: PathBuf,
    /// The token's label.
    pub token: String,
    /// The user PIN.
    pub pin: String,
    /// Removed on drop when this process made it.
    owned: Option<PathBuf>,
}

/// SoftHSM's module, if installed.
pub fn softhsm_module() -> Option<PathBuf> {
    SOFTHSM_MODULES
        .iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())
}

fn module_or_skip() -> Option<PathBuf> {
    if let Some(module) = softhsm_module() {
        return Some(module);
    }
    if std::env::var(ALLOW_NO_SOFTHSM).as_deref() == Ok("1") {
        eprintln!(
            "\n!!! SKIPPED: SoftHSM's PKCS#11 module is not installed (looked in {SOFTHSM_MODULES:?}); \
             {ALLOW_NO_SOFTHSM}=1 allows this skip. `apt-get install softhsm2` runs the test.\n"
        );
        return None;
    }
    panic!(
        "SoftHSM's PKCS#11 module is not installed (looked in {SOFTHSM_MODULES:?}): `apt-get \
         install softhsm2` (CI's .ci/run does), or set {ALLOW_NO_SOFTHSM}=1 to skip the HSM tests"
    )
}

impl SoftHsm {
    /// A fresh token directory with a token labelled `token`; `None` only
    /// when the module is missing and skipping is allowed (see the module
    /// docs).
    ///
    /// # Panics
    /// When the module is missing (and skipping is not allowed), or
    /// `softhsm2-util` fails.
    pub fn start(token: &str) -> Option<Self> {
        let module = module_or_skip()?;
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "argus-softhsm-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let tokens = dir.join("tokens");
        std::fs::create_dir_all(&tokens)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", tokens.display()));
        let conf = dir.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .unwrap_or_else(|e| panic!("cannot write softhsm2.conf: {e}"));
        let hsm = Self {
            module,
            conf,
            token: token.to_owned(),
            pin: USER_PIN.to_owned(),
            owned: Some(dir),
        };
        hsm.init_token(token);
        Some(hsm)
    }

    /// Initialises another token, labelled `label`, in the same directory.
    ///
    /// # Panics
    /// When `softhsm2-util` fails or is missing.
    pub fn init_token(&self, label: &str) {
        let out = Command::new("softhsm2-util")
            .args(["--init-token", "--free", "--label", label])
            .args(["--pin", USER_PIN, "--so-pin", SO_PIN])
            .env("SOFTHSM2_CONF", &self.conf)
            .output()
            .unwrap_or_else(|e| panic!("cannot run softhsm2-util (apt-get install softhsm2): {e}"));
        assert!(
            out.status.success(),
            "softhsm2-util --init-token {label}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The environment that points a process at this token: the conf, the
    /// module (`ARGUS_PKCS11_MODULE`) and the PIN (`ARGUS_HSM_PIN`).
    pub fn envs(&self) -> Vec<(&'static str, OsString)> {
        vec![
            ("SOFTHSM2_CONF", self.conf.clone().into_os_string()),
            ("ARGUS_PKCS11_MODULE", self.module.clone().into_os_string()),
            ("ARGUS_HSM_PIN", OsString::from(&self.pin)),
        ]
    }

    /// The token directory's `softhsm2.conf`.
    pub fn conf(&self) -> &Path {
        &self.conf
    }

    /// For an in-process test named `test` (its full name in the test
    /// binary): in the parent, starts a token labelled `token`, runs `test`
    /// again in a child of this test binary with [`SoftHsm::envs`], asserts
    /// that it ran and passed, and answers `None` (the caller returns); in
    /// that child, answers the token to use.
    ///
    /// # Panics
    /// When the child fails, runs no test, or the module is missing.
    pub fn in_child(test: &str, token: &str) -> Option<Self> {
        if std::env::var(CHILD).as_deref() == Ok(test) {
            let conf = std::env::var_os("SOFTHSM2_CONF").unwrap_or_default();
            return Some(Self {
                module: softhsm_module().unwrap_or_default(),
                conf: PathBuf::from(conf),
                token: std::env::var(TOKEN).unwrap_or_default(),
                pin: USER_PIN.to_owned(),
                owned: None,
            });
        }
        let hsm = Self::start(token)?;
        let exe = std::env::current_exe()
            .unwrap_or_else(|e| panic!("cannot find the test binary's path: {e}"));
        let out = Command::new(exe)
            .args([test, "--exact", "--nocapture", "--test-threads=1"])
            .envs(hsm.envs())
            .env(CHILD, test)
            .env(TOKEN, token)
            .output()
            .unwrap_or_else(|e| panic!("cannot run the test binary again: {e}"));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        // Indented, so no line of the child's reads as this binary's own
        // `test result:` to whoever sums them up.
        let indented: String = format!("{stdout}{stderr}")
            .lines()
            .map(|line| format!("  | {line}\n"))
            .collect();
        eprintln!("--- child process of {test} ---\n{indented}--- end of child ---");
        assert!(out.status.success(), "{test} failed in its SoftHSM child");
        assert!(
            stdout.contains("1 passed"),
            "the child ran no test named {test}: {stdout}"
        );
        None
    }
}

impl Drop for SoftHsm {
    fn drop(&mut self) {
        if let Some(dir) = &self.owned {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
