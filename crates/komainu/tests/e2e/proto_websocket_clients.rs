//! WebSocket with clients nobody here wrote, through plain and TLS listeners, on a route that
//! wants an API key: headless Chromium's `WebSocket` and Python's `websockets` client, both
//! offering `permessage-deflate` as they do by default, against a `websockets` server that accepts
//! it. Compressed frames pass the relay as they are.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

use crate::support::browser::Browser;
use crate::support::{Gateway, json};

const PEER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/support/ws_peer.py");

/// A `websockets` echo server (Python), killed when dropped.
struct PyServer(Child, u16);

impl PyServer {
    fn start() -> PyServer {
        let mut child = Command::new("python3")
            .args([PEER, "serve"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs the websockets peer (scripts/test installs websockets)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().expect("the server's port");
        PyServer(child, port)
    }
}

impl Drop for PyServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A keyed route on host 127.0.0.1 to `server`, and a key presented by its id in the query.
fn keyed_route(gw: &Gateway, server: &PyServer) {
    gw.create(
        "routes",
        &json!({"id": "chat", "frontend": {"domains": ["127.0.0.1/chat"]},
                "backend": {"targets": [{"id": "py", "hostname": "127.0.0.1", "port": server.1}]},
                "plugins": [{"plugin": "cp:otoroshi.next.plugins.ApikeyCalls"}]}),
    );
    gw.create(
        "apikeys",
        &json!({"clientId": "wskey", "clientSecret": "unused", "allowClientIdOnly": true,
                "authorizedEntities": ["route_chat"]}),
    );
}

fn default_ca(gw: &Gateway, dir: &std::path::Path) -> String {
    let (_, ca) = json(gw.get("/api/certificates/komainu-default-ca"));
    let path = dir.join("ca.pem");
    std::fs::write(&path, ca["chain"].as_str().unwrap()).unwrap();
    path.display().to_string()
}

#[test]
fn pythons_websockets_client_compresses_through_plain_and_tls_listeners() {
    let server = PyServer::start();
    let gw = Gateway::start();
    keyed_route(&gw, &server);
    let dir = tempfile::tempdir().unwrap();
    let ca = default_ca(&gw, dir.path());
    let plain = format!(
        "{}/chat?x-api-key=wskey",
        gw.proxy.replace("http://", "ws://")
    );
    let tls = format!(
        "{}/chat?x-api-key=wskey",
        gw.https.replace("https://", "wss://")
    );
    for url in [plain, tls] {
        let out = Command::new("python3")
            .args([PEER, "client", &url, &ca])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(seen["echoed"], true, "{url}: {seen}");
        assert_eq!(
            seen["client_extensions"],
            json!(["permessage-deflate"]),
            "{seen}"
        );
        assert_eq!(
            seen["upstream_extensions"],
            json!(["permessage-deflate"]),
            "{seen}"
        );
    }
    let refused = Command::new("python3")
        .args([PEER, "client", &gw.proxy.replace("http://", "ws://")])
        .output()
        .unwrap();
    assert!(!refused.status.success(), "no key, no upgrade");
}

/// What a page's `WebSocket` to `url` saw: the lengths of three echoes and the extensions.
const PAGE_SCRIPT: &str = r#"
const [url, done] = [arguments[0], arguments[arguments.length - 1]];
const ws = new WebSocket(url);
const got = [];
ws.onopen = () => { ws.send("hello"); ws.send("komainu ".repeat(20000)); ws.send("__extensions__"); };
ws.onmessage = (e) => {
  got.push(e.data);
  if (got.length === 3) { ws.close(); done(JSON.stringify({lengths: got.map(g => g.length), extensions: ws.extensions, upstream: got[2]})); }
};
ws.onclose = (e) => done("closed " + e.code);
"#;

#[test]
fn a_browser_opens_a_compressed_websocket_through_plain_and_tls_listeners() {
    let server = PyServer::start();
    let gw = Gateway::start();
    keyed_route(&gw, &server);
    let b = Browser::start();
    for (page, ws) in [(&gw.proxy, "ws://"), (&gw.https, "wss://")] {
        b.goto(&format!("{page}/chat"));
        let host = page.split("://").nth(1).unwrap();
        let url = format!("{ws}{host}/chat?x-api-key=wskey");
        let js = PAGE_SCRIPT.replace("arguments[0]", &format!("{url:?}"));
        let seen = b.script_async(&js);
        let seen: Value = serde_json::from_str(seen.as_str().unwrap())
            .unwrap_or_else(|_| panic!("{url}: {seen}"));
        assert_eq!(seen["lengths"], json!([5, 160000, 22]), "{url}: {seen}");
        assert!(
            seen["extensions"]
                .as_str()
                .unwrap()
                .starts_with("permessage-deflate"),
            "{seen}"
        );
        assert_eq!(seen["upstream"], "[\"permessage-deflate\"]", "{seen}");
    }
}
