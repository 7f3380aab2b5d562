//! A real PostgreSQL server for the tests: Debian's `postgresql` binaries,
//! a private data directory and a private loopback port, started by the
//! test and stopped when dropped. No system service is used or needed.
//!
//! The binaries are found on `PATH` or under `/usr/lib/postgresql/*/bin`
//! (where Debian puts them). PostgreSQL refuses to run as root; a test run
//! as root starts it as the `postgres` user (which Debian's package
//! creates) through `runuser`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The role the tests connect as (trust authentication on loopback).
pub const PG_USER: &str = "argus";

/// A running PostgreSQL server, stopped (fast shutdown) when dropped.
#[derive(Debug)]
pub struct Postgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres_user: bool,
    _scratch: Option<tempfile_dir::ScratchDir>,
}

mod tempfile_dir {
    //! A scratch directory removed when dropped (the kit takes no
    //! `tempfile` dependency for one directory).
    use std::path::{Path, PathBuf};

    #[derive(Debug)]
    pub(super) struct ScratchDir(PathBuf);

    impl ScratchDir {
        pub(super) fn new(prefix: &str) -> std::io::Result<Self> {
            let base = std::env::temp_dir();
            for n in 0..1000u32 {
                let path = base.join(format!("{prefix}-{}-{n}", std::process::id()));
                match std::fs::create_dir(&path) {
                    Ok(()) => return Ok(Self(path)),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                    Err(e) => return Err(e),
                }
            }
            Err(std::io::Error::other("no free scratch directory name"))
        }

        pub(super) fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for ScratchDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// The directory holding `initdb`, `pg_ctl` and `postgres`, or why none.
pub fn postgres_bin_dir() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("initdb").is_file() && dir.join("pg_ctl").is_file() {
                return Ok(dir);
            }
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path().join("bin"))
                .filter(|bin| bin.join("initdb").is_file())
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    versions.pop().ok_or_else(|| {
        "PostgreSQL's server binaries (initdb, pg_ctl) were not found on PATH or under \
         /usr/lib/postgresql; install Debian's `postgresql` package (`.ci/run` does)"
            .to_owned()
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}

impl Postgres {
    /// Initialises a cluster in a new scratch directory and starts it on a
    /// free loopback port. Panics (it is a test harness) with what to
    /// install when the binaries are missing.
    #[allow(clippy::panic, clippy::expect_used)]
    pub fn start() -> Self {
        let bin = postgres_bin_dir().unwrap_or_else(|why| panic!("{why}"));
        let scratch = tempfile_dir::ScratchDir::new("argus-pg").expect("a scratch directory");
        let as_postgres_user = is_root();
        let dir = scratch.path().join("data");
        if as_postgres_user {
            // The data directory must belong to the user that runs the server.
            let status = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(scratch.path())
                .status()
                .expect("chown runs");
            assert!(status.success(), "chown of the scratch directory failed");
        }
        let server = Self {
            bin,
            dir,
            port: crate::free_port(),
            as_postgres_user,
            _scratch: Some(scratch),
        };
        let out = server
            .command("initdb")
            .args([
                "-A",
                "trust",
                "-U",
                PG_USER,
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(&server.dir)
            .output()
            .expect("initdb runs");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        server.start_server();
        server.reap_on_exit();
        server
    }

    /// A server kept in a `static` is never dropped: a watcher process
    /// stops it (and removes its directory) once this test process exits.
    fn reap_on_exit(&self) {
        let Some(scratch) = self.dir.parent() else {
            return;
        };
        let stop = format!(
            "{} -w -m immediate -D '{}' stop",
            self.bin.join("pg_ctl").display(),
            self.dir.display()
        );
        let stop = if self.as_postgres_user {
            format!("runuser -u postgres -- {stop}")
        } else {
            stop
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf '{dir}'",
            pid = std::process::id(),
            dir = scratch.display()
        );
        let _ = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres_user {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    /// Starts the server (again, after [`Postgres::stop`]) on the same
    /// port and data directory, and waits until it accepts connections.
    #[allow(clippy::expect_used)]
    pub fn start_server(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories='{}' -c fsync=off \
             -c full_page_writes=off -c max_connections=200",
            self.port,
            self.socket_dir().display()
        );
        let out = self
            .command("pg_ctl")
            .args(["-w", "-t", "60", "-l"])
            .arg(self.dir.with_file_name("server.log"))
            .arg("-D")
            .arg(&self.dir)
            .args(["-o", &options, "start"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .output()
            .expect("pg_ctl runs");
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.dir.with_file_name("server.log")).unwrap_or_default()
        );
        self.wait_ready(Duration::from_secs(30));
    }

    fn socket_dir(&self) -> PathBuf {
        self.dir
            .parent()
            .map_or_else(std::env::temp_dir, Path::to_path_buf)
    }

    #[allow(clippy::panic)]
    fn wait_ready(&self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            match self.psql("postgres", "SELECT 1") {
                Ok(_) => return,
                Err(why) if Instant::now() >= deadline => {
                    panic!("PostgreSQL on port {} is not ready: {why}", self.port)
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// Stops the server (immediate shutdown: the same as a crash, for the
    /// clients).
    pub fn stop(&self) {
        let _ = self
            .command("pg_ctl")
            .args(["-w", "-m", "immediate", "-D"])
            .arg(&self.dir)
            .arg("stop")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `db` on this server.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://{PG_USER}@127.0.0.1:{}/{db}", self.port)
    }

    /// A new, empty database; its URL.
    #[allow(clippy::panic)]
    pub fn create_database(&self) -> String {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "t{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        if let Err(why) = self.psql("postgres", &format!("CREATE DATABASE {name}")) {
            panic!("CREATE DATABASE failed: {why}");
        }
        self.url(&name)
    }

    /// Runs `sql` with `psql` in database `db`; its output, or the error.
    pub fn psql(&self, db: &str, sql: &str) -> Result<String, String> {
        let psql = self.bin.join("psql");
        let program = if psql.is_file() {
            psql
        } else {
            PathBuf::from("psql")
        };
        let out = Command::new(program)
            .args([
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
            ])
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                PG_USER,
                "-d",
                db,
                "-c",
                sql,
            ])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("psql: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
        }
    }

    /// Turns TLS on and plain TCP off: a CA and a server certificate for
    /// `localhost` and 127.0.0.1 are made with `openssl` (one more CA too,
    /// which signed nothing here), the server restarts with `ssl = on` and
    /// accepts TCP clients over TLS only. Returns the paths of the CA's
    /// certificate and of the other CA's.
    #[allow(clippy::expect_used)]
    pub fn enable_tls(&self) -> (PathBuf, PathBuf) {
        let scratch = self.socket_dir();
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(&scratch)
                .stdin(Stdio::null())
                .output()
                .expect("openssl runs (Debian's openssl package)");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        for ca in ["ca", "other-ca"] {
            openssl(&[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "2",
                "-subj",
                &format!("/CN=argus test {ca}"),
                "-keyout",
                &format!("{ca}.key"),
                "-out",
                &format!("{ca}.pem"),
            ]);
        }
        std::fs::write(
            scratch.join("server.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
             keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .expect("write the extensions");
        openssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ]);
        for file in ["server.pem", "server.key"] {
            std::fs::copy(scratch.join(file), self.dir.join(file)).expect("copy into the cluster");
        }
        let mut perms = std::fs::metadata(self.dir.join("server.key"))
            .expect("the key")
            .permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o600);
        std::fs::set_permissions(self.dir.join("server.key"), perms).expect("chmod the key");
        if self.as_postgres_user {
            let status = Command::new("chown")
                .arg("postgres:postgres")
                .arg(self.dir.join("server.pem"))
                .arg(self.dir.join("server.key"))
                .status()
                .expect("chown runs");
            assert!(status.success());
        }
        let conf = self.dir.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).expect("postgresql.conf");
        text.push_str("\nssl = on\nssl_cert_file = 'server.pem'\nssl_key_file = 'server.key'\n");
        std::fs::write(&conf, text).expect("write postgresql.conf");
        std::fs::write(
            self.dir.join("pg_hba.conf"),
            "local all all trust\nhostssl all all 127.0.0.1/32 trust\n",
        )
        .expect("write pg_hba.conf");
        self.stop();
        self.start_server();
        (scratch.join("ca.pem"), scratch.join("other-ca.pem"))
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}
