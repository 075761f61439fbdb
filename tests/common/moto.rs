//! The end-to-end harness: moto's standalone server on a free loopback port, started from
//! `$DENYCTL_MOTO_SERVER` (scripts/test.sh installs it), reset between uses, killed on drop.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running moto server.
pub struct Moto {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("no free loopback port")
}

/// One HTTP/1.0 request to the server; returns (status, body).
fn http(port: u16, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(s, "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\n\r\n{body}", body.len())?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    let status = out.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Ok((status, body))
}

impl Moto {
    /// Start a server and wait until it answers. Fails the test, with the reason, when
    /// DENYCTL_MOTO_SERVER is unset or the server does not come up.
    pub fn start() -> Moto {
        let bin = std::env::var("DENYCTL_MOTO_SERVER").unwrap_or_else(|_| {
            panic!(
                "DENYCTL_MOTO_SERVER is not set: the end-to-end tests need moto's server. Run them with \
                 ./scripts/test.sh (it installs moto into .venv and sets the variable), or \
                 `source scripts/moto-env.sh` first"
            )
        });
        let port = free_port();
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env_remove("INITIAL_NO_AUTH_ACTION_COUNT")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start moto server {bin}: {e}"));
        let mut m = Moto { child, port, endpoint: format!("http://127.0.0.1:{port}") };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok((200, _)) = http(port, "POST", "/moto-api/reset", "") {
                return m;
            }
            if let Ok(Some(status)) = m.child.try_wait() {
                panic!("moto server {bin} exited before it was ready ({status})");
            }
            if Instant::now() > deadline {
                panic!("moto server {bin} on port {port} not ready after 60 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Forget every resource (POST /moto-api/reset) and stop enforcing IAM.
    pub fn reset(&self) {
        let (status, body) = http(self.port, "POST", "/moto-api/reset", "").expect("moto reset");
        assert_eq!(status, 200, "moto reset failed: {body}");
        self.set_auth(None);
    }

    /// From now on, check every request against the caller's identity policies (moto's
    /// INITIAL_NO_AUTH_ACTION_COUNT = 0), or stop checking (`None`).
    pub fn set_auth(&self, enforce: Option<()>) {
        let n = if enforce.is_some() { "0" } else { "inf" };
        let (status, body) = http(self.port, "POST", "/moto-api/reset-auth", n).expect("moto reset-auth");
        assert_eq!(status, 200, "moto reset-auth failed: {body}");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
