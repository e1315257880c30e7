//! Documentation Markdown: whatever the source, every tag of the page is one Markdown makes, with
//! only the attributes Markdown gives (no handler, no style, no `data-*`), links and images never
//! point at script, and the page stays within its bound.
#![no_main]

use libfuzzer_sys::fuzz_target;

const TAGS: [&str; 31] = [
    "p",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "a",
    "img",
    "em",
    "strong",
    "del",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "hr",
    "br",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "input",
    "sup",
    "div",
    "span",
    "section",
];
const ATTRIBUTES: [&str; 11] = [
    "href", "src", "alt", "title", "id", "class", "start", "style", "type", "checked", "disabled",
];

/// Every tag of `html`: its name and its attributes' names and values.
fn tags(html: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut out = Vec::new();
    for piece in html.split('<').skip(1) {
        let inner = piece.split('>').next().unwrap_or("");
        let inner = inner.trim_start_matches('/');
        let mut parts = inner.splitn(2, |c: char| c.is_whitespace());
        let name = parts.next().unwrap_or("").trim_end_matches('/').to_string();
        let mut attrs = Vec::new();
        let mut rest = parts.next().unwrap_or("");
        while let Some((key, after)) = rest.split_once('=') {
            let key = key.trim().to_string();
            let after = after.trim_start().strip_prefix('"').unwrap_or(after);
            let (value, next) = after.split_once('"').unwrap_or((after, ""));
            attrs.push((key, value.to_string()));
            rest = next;
        }
        out.push((name, attrs));
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    let html = komainu_web::fuzzing::render_markdown(source);
    for (name, attrs) in tags(&html) {
        assert!(
            TAGS.contains(&name.as_str()),
            "tag {name:?} from {source:?}"
        );
        for (key, value) in attrs {
            assert!(
                ATTRIBUTES.contains(&key.as_str()),
                "attribute {key:?} from {source:?}"
            );
            let value = value.to_ascii_lowercase();
            if key == "href" || key == "src" {
                let scheme = value.split(':').next().unwrap_or("");
                assert!(
                    !["javascript", "vbscript"].contains(&scheme.trim()),
                    "{value:?} from {source:?}"
                );
            }
            assert!(
                key != "style" || name == "th" || name == "td",
                "style on {name}"
            );
        }
    }
    assert!(
        html.len() <= 3 * (1 << 20) + 256,
        "{} bytes from {}",
        html.len(),
        source.len()
    );
});
