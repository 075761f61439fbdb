//! The end-to-end harness: moto's standalone server on a free loopback port, started from
//! `$DENYCTL_MOTO_SERVER` (scripts/test.sh installs it), reset between tests, killed on drop.
//! Self-contained (std only) so any test crate can `#[path]`-include it.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The account moto's default credentials belong to.
pub const ACCOUNT: &str = "123456789012";
/// The region the tests use.
pub const REGION: &str = "us-east-1";

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
pub fn http(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut req = format!("{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes())?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    let status = out.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Ok((status, body))
}

fn tag(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{name}>"))? + start;
    Some(xml[start..end].to_string())
}

impl Moto {
    /// Starts a server and waits until it answers. Fails the test, with the reason, when
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
            if let Ok((200, _)) = http(port, "POST", "/moto-api/reset", &[], "") {
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

    /// The server's process id (a test that stops the server mid-call kills it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Forgets every resource (POST /moto-api/reset) and stops enforcing IAM.
    pub fn reset(&self) {
        let (status, body) = http(self.port, "POST", "/moto-api/reset", &[], "").expect("moto reset");
        assert_eq!(status, 200, "moto reset failed: {body}");
        self.set_auth(false);
    }

    /// From now on, checks every request against the caller's IAM policies (moto's
    /// INITIAL_NO_AUTH_ACTION_COUNT = 0), or stops checking.
    pub fn set_auth(&self, enforce: bool) {
        let n = if enforce { "0" } else { "inf" };
        let (status, body) = http(self.port, "POST", "/moto-api/reset-auth", &[], n).expect("moto reset-auth");
        assert_eq!(status, 200, "moto reset-auth failed: {body}");
    }

    /// Creates an IAM user with an access key (IAM Query API; call before enforcing auth).
    /// Returns (access key id, secret access key); an inline policy is attached when given.
    pub fn iam_user(&self, name: &str, inline_policy: Option<&str>) -> (String, String) {
        // moto routes a request by the service named in the credential scope of its signature.
        let form = [
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Authorization", "AWS4-HMAC-SHA256 Credential=testing/20250101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0"),
        ];
        let call = |body: String| {
            let (status, text) = http(self.port, "POST", "/", &form, &body).expect("moto IAM call");
            assert_eq!(status, 200, "moto IAM call {body} failed: {text}");
            text
        };
        call(format!("Action=CreateUser&Version=2010-05-08&UserName={name}"));
        if let Some(p) = inline_policy {
            call(format!(
                "Action=PutUserPolicy&Version=2010-05-08&UserName={name}&PolicyName=inline&PolicyDocument={}",
                urlencode(p)
            ));
        }
        let keys = call(format!("Action=CreateAccessKey&Version=2010-05-08&UserName={name}"));
        (tag(&keys, "AccessKeyId").expect("AccessKeyId"), tag(&keys, "SecretAccessKey").expect("SecretAccessKey"))
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
