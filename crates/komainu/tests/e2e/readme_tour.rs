//! The README's tour, run as written: every `sh` block between `<!-- tour` and `<!-- /tour -->`,
//! in order, in one shell, against the binary (the tour's `cargo run` line is the gateway this test
//! starts, with that line's flags) and the upstream and SMTP server the README starts (their ports
//! 3000 and 2525 rewritten to free ones).
//!
//! Every `curl` must answer below 400, unless its command ends with a comment naming the status it
//! shows (`# 400 errors.no.api.key`): then it must answer exactly that.

use std::process::Command;

use crate::support::{Gateway, Options};

/// The README's commands: `(command, expected status)`, a command spanning the lines its `\` or
/// its open quotes carry on to.
fn tour_commands(readme: &str) -> Vec<(String, Option<u16>)> {
    let start = readme.find("<!-- tour").expect("the README marks its tour");
    let end = readme.find("<!-- /tour -->").expect("and its end");
    let mut commands = Vec::new();
    let mut in_block = false;
    let mut current = String::new();
    for line in readme[start..end].lines() {
        if line.starts_with("```") {
            in_block = line == "```sh";
            continue;
        }
        if !in_block
            || (current.is_empty()
                && (line.trim().is_empty() || line.trim_start().starts_with('#')))
        {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        let quotes = current.matches('\'').count();
        if line.ends_with('\\') || quotes % 2 == 1 {
            continue;
        }
        // The trailing comment, outside quotes, may name the status the command shows.
        let comment = comment_of(line);
        let expected = comment.and_then(|c| {
            c.split(|ch: char| !ch.is_ascii_digit())
                .find(|w| w.len() == 3 && (b'1'..=b'5').contains(&w.as_bytes()[0]))
                .and_then(|w| w.parse().ok())
        });
        commands.push((std::mem::take(&mut current), expected));
    }
    commands
}

/// The comment ending `line`, if any (a `#` after whitespace, outside quotes).
fn comment_of(line: &str) -> Option<&str> {
    let (mut single, mut double) = (false, false);
    let bytes = line.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'\'' if !double => single = !single,
            b'"' if !single => double = !double,
            b'#' if !single && !double && i > 0 && bytes[i - 1] == b' ' => return Some(&line[i..]),
            _ => {}
        }
    }
    None
}

/// The flags of the tour's `cargo run -- serve ... &` line, split as the shell would (single
/// quotes), `from` → `to` in each.
fn serve_flags(commands: &[(String, Option<u16>)], from: &str, to: &str) -> Vec<String> {
    let line = commands
        .iter()
        .find(|(c, _)| c.starts_with("cargo run"))
        .map(|(c, _)| c.trim().trim_end_matches('&'))
        .expect("the tour starts the gateway");
    let args = line.split_once(" serve").map_or("", |(_, a)| a);
    let (mut words, mut word, mut quoted) = (Vec::new(), String::new(), false);
    for ch in args.chars() {
        match ch {
            '\'' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word).replace(from, to));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word.replace(from, to));
    }
    words
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port()
}

/// Fails a `curl` whose status is not what the command expects.
const CURL: &str = r#"
curl() {
  local out status
  out=$(command curl -sS -w '\n%{http_code}' "$@") || { echo "curl could not run: $*" >&2; return 1; }
  status=${out##*$'\n'}
  out=${out%$'\n'*}
  printf '%s\n' "$out"
  if [ -n "${KOMAINU_EXPECT:-}" ]; then
    [ "$status" = "$KOMAINU_EXPECT" ] || { echo "expected $KOMAINU_EXPECT, got $status: curl $*" >&2; echo "$out" >&2; return 1; }
  elif [ "$status" -ge 400 ]; then
    echo "HTTP $status: curl $*" >&2; echo "$out" >&2; return 1
  fi
}
set -euo pipefail
trap 'kill $(jobs -p) 2> /dev/null' EXIT
"#;

#[test]
fn the_readme_tour_runs_as_written() {
    assert!(
        Command::new("jq").arg("--version").output().is_ok(),
        "the tour reads answers with jq: install it (scripts/test does)"
    );
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    let commands = tour_commands(&readme);
    assert!(
        commands.len() > 30,
        "the tour has its commands ({})",
        commands.len()
    );
    let upstream_port = free_port();
    let smtp = format!("127.0.0.1:{}", free_port());
    let gw = Gateway::start_with(Options {
        extra_args: serve_flags(&commands, "127.0.0.1:2525", &smtp),
        env_credentials: false,
        env: vec![
            ("KOMAINU_ADMIN_CLIENT_ID".into(), "admin".into()),
            ("KOMAINU_ADMIN_CLIENT_SECRET".into(), "change-me".into()),
        ],
        ..Options::default()
    });
    let admin = gw.admin.trim_start_matches("http://").to_string();
    let proxy = gw.proxy.trim_start_matches("http://").to_string();
    let https = gw.https.trim_start_matches("https://").to_string();
    let portal = gw.portal.trim_start_matches("http://").to_string();
    let upstream = format!("127.0.0.1:{upstream_port}");
    let mut script = String::from(CURL);
    for (command, expected) in &commands {
        if command.starts_with("cargo run") {
            continue; // the gateway this test started
        }
        let command = command
            .replace("127.0.0.1:9000", &admin)
            .replace("127.0.0.1:8080", &proxy)
            .replace("localhost:8080", &proxy)
            .replace("127.0.0.1:8443", &https)
            .replace("localhost:8443", &https)
            .replace("127.0.0.1:8081", &portal)
            .replace("127.0.0.1:3000", &upstream)
            .replace(
                "scripts/smtp-sink 2525",
                &format!(
                    "{}/../../scripts/smtp-sink {}",
                    env!("CARGO_MANIFEST_DIR"),
                    smtp.rsplit(':').next().unwrap()
                ),
            )
            .replace(
                "\"127.0.0.1\", 3000",
                &format!("\"127.0.0.1\", {upstream_port}"),
            )
            .replace("\"port\": 3000", &format!("\"port\": {upstream_port}"));
        let shown = command
            .lines()
            .next()
            .unwrap_or_default()
            .replace('\'', "'\\''");
        script.push_str(&format!(
            "export KOMAINU_EXPECT={}\nprintf '+ %s\\n' '{shown}' >&2\n{command}",
            expected.map(|s| s.to_string()).unwrap_or_default(),
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .output()
        .expect("bash");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the tour failed:\n{stderr}\n--- stdout\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn tour_commands_are_split_where_the_shell_would() {
    let readme = "<!-- tour -->\n```sh\nA=1\ncurl -s x \\\n  y   # 400 no\ncurl --json '{\n \"a\": 1\n}' z\n# a comment\n```\n```console\nnot run\n```\n<!-- /tour -->";
    let c = tour_commands(readme);
    assert_eq!(c.len(), 3, "{c:?}");
    assert_eq!(c[1].1, Some(400));
    assert!(c[2].0.contains("\"a\": 1"));
    assert_eq!(c[2].1, None);
}

/// The README's plugin table, as `GET /api/plugins/all` describes the plugins.
fn plugin_table(catalog: &serde_json::Value) -> String {
    let mut out = String::from("| plugin | steps | what it does |\n|---|---|---|\n");
    for p in catalog.as_array().expect("a list") {
        let id = p["id"].as_str().unwrap();
        let name = id.rsplit('.').next().unwrap();
        let steps: Vec<&str> = p["plugin_steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        let inert = p["inert_config_keys"].as_array().unwrap();
        let note = if inert.is_empty() {
            String::new()
        } else {
            let keys: Vec<String> = inert
                .iter()
                .map(|k| format!("`{}`", k.as_str().unwrap()))
                .collect();
            format!(" (accepted, not acted on: {})", keys.join(", "))
        };
        out.push_str(&format!(
            "| `{name}` | {} | {}{note} |\n",
            steps.join(", "),
            p["description"].as_str().unwrap().replace('|', "\\|")
        ));
    }
    out
}

#[test]
fn the_readme_plugin_table_is_the_catalogue() {
    let gw = Gateway::start();
    let (status, catalog) = crate::support::json(gw.get("/api/plugins/all"));
    assert_eq!(status, 200);
    let table = plugin_table(&catalog);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
    let readme = std::fs::read_to_string(path).expect("README.md");
    let (start, end) = (
        "<!-- plugins: generated from GET /api/plugins/all -->\n",
        "<!-- /plugins -->",
    );
    let from = readme
        .find(start)
        .expect("the README marks its plugin table")
        + start.len();
    let to = readme.find(end).expect("and its end");
    if readme[from..to] != table {
        if std::env::var_os("KOMAINU_WRITE_README").is_some() {
            std::fs::write(path, format!("{}{table}{}", &readme[..from], &readme[to..])).unwrap();
            return;
        }
        panic!(
            "the README's plugin table differs from the catalogue: run this test with KOMAINU_WRITE_README=1 to rewrite it\n{table}"
        );
    }
}
