//! Documentation Markdown to HTML that cannot run script: raw HTML in the source is shown as
//! text, links or images whose scheme could execute (`javascript:`, `vbscript:`, `data:` other
//! than images) lose their target, and headings keep only their `id` and classes (`{#id .class}`:
//! an attribute such as `onmouseover` or `data-refresh` is dropped). The pages' Content-Security-
//! Policy is the second wall; the pages' script ignores whatever is inside documentation content.

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, html};

fn safe_url(url: &str, image: bool) -> bool {
    let lower: String = url
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .take(16)
        .collect::<String>()
        .to_ascii_lowercase();
    let Some((scheme, _)) = lower.split_once(':') else {
        return true;
    };
    if scheme.contains('/') || scheme.contains('?') || scheme.contains('#') {
        return true;
    }
    match scheme {
        "http" | "https" | "mailto" => true,
        "data" => image && lower.starts_with("data:image/") && !lower.starts_with("data:image/svg"),
        _ => false,
    }
}

/// Nesting rendered at most (block quotes, lists, emphasis): deeper tags are dropped and their
/// text kept, so that a short hostile source (100,000 `>`) cannot become a page of megabytes.
const MAX_NESTING: usize = 32;
/// Bytes of a source rendered at most; the rest is cut, and the page says so.
const MAX_SOURCE: usize = 1 << 20;

/// Renders `source` to sanitised HTML.
pub fn render(source: &str) -> String {
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_HEADING_ATTRIBUTES;
    let cut = source.len() > MAX_SOURCE;
    let source = if cut {
        &source[..source.floor_char_boundary(MAX_SOURCE)]
    } else {
        source
    };
    let mut depth = 0usize;
    let bounded = Parser::new_ext(source, options).filter(move |event| match event {
        Event::Start(_) => {
            depth += 1;
            depth <= MAX_NESTING
        }
        Event::End(_) => {
            depth = depth.saturating_sub(1);
            depth < MAX_NESTING
        }
        _ => true,
    });
    let events = bounded.map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        Event::Start(Tag::Heading {
            level, id, classes, ..
        }) => Event::Start(Tag::Heading {
            level,
            id,
            classes,
            attrs: Vec::new(),
        }),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) if !safe_url(&dest_url, false) => Event::Start(Tag::Link {
            link_type,
            dest_url: CowStr::Borrowed("#"),
            title,
            id,
        }),
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) if !safe_url(&dest_url, true) => Event::Start(Tag::Image {
            link_type,
            dest_url: CowStr::Borrowed(""),
            title,
            id,
        }),
        other => other,
    });
    let mut out = String::with_capacity(source.len() * 3 / 2);
    html::push_html(&mut out, events);
    if cut {
        out.push_str("<p><em>(the rest of this document is too long to show)</em></p>\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{MAX_NESTING, MAX_SOURCE, render};

    #[test]
    fn markdown_renders() {
        let html = render("# Title\n\nSome *text* and [a link](https://example.com).");
        assert!(html.contains("<h1>Title</h1>"));
        assert!(html.contains("<em>text</em>"));
        assert!(html.contains(r#"href="https://example.com""#));
    }

    #[test]
    fn deep_or_long_sources_make_small_pages() {
        for source in [
            ">".repeat(100_000),
            "[".repeat(100_000),
            "*a ".repeat(50_000),
            (0..3000)
                .map(|i| format!("{}- x\n", "  ".repeat(i)))
                .collect(),
            "x".repeat(MAX_SOURCE + 10),
        ] {
            let html = render(&source);
            assert!(
                html.len() < 3 * MAX_SOURCE,
                "{} -> {}",
                source.len(),
                html.len()
            );
        }
        assert_eq!(
            render(&">".repeat(100_000)).matches("<blockquote>").count(),
            MAX_NESTING
        );
    }

    #[test]
    fn raw_html_and_script_urls_are_inert() {
        for attack in [
            "<script>alert(1)</script>",
            "<img src=x onerror=alert(1)>",
            "hello <b onclick=alert(1)>x</b>",
            "<iframe src=javascript:alert(1)></iframe>",
        ] {
            let html = render(attack);
            let tags = ["<script", "<img", "<b ", "<iframe"];
            assert!(!tags.iter().any(|t| html.contains(t)), "{attack} -> {html}");
        }
        for link in [
            "[x](javascript:alert(1))",
            "[x](JavaScript:alert(1))",
            "[x](&#106;avascript:alert(1))",
            "[x](<java\tscript:alert(1)>)",
            "[x](vbscript:msgbox)",
            "[x](data:text/html,<script>alert(1)</script>)",
            "![x](data:image/svg+xml,<svg onload=alert(1)>)",
        ] {
            let html = render(link).to_ascii_lowercase();
            let live = [
                "href=\"javascript",
                "href=\"vbscript",
                "href=\"data:",
                "src=\"data:",
                "href=\"java\tscript",
            ];
            assert!(!live.iter().any(|l| html.contains(l)), "{link} -> {html}");
        }
        assert!(render("![x](data:image/png;base64,AAAA)").contains("data:image/png"));
        let heading = render("# T {#top .note onmouseover=alert(1) data-refresh=/ui/apis}");
        assert_eq!(heading, "<h1 id=\"top\" class=\"note\">T</h1>\n");
        assert!(render("[rel](/docs/page)").contains(r#"href="/docs/page""#));
    }
}
