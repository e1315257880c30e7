//! Prometheus text exposition: the one writer every part of the gateway renders its metrics with
//! (a family's `HELP` and `TYPE` once, then its samples, label values escaped).

use std::borrow::Cow;
use std::fmt::{Display, Write};

/// The kind a family declares.
#[derive(Clone, Copy)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// `# HELP` and `# TYPE` of a family.
pub fn family(out: &mut String, name: &str, kind: Kind, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {}", kind.as_str());
}

/// One sample: `labels` is what goes between the braces (`api="a",route="r"`), empty for none.
pub fn sample(out: &mut String, name: &str, labels: &str, value: impl Display) {
    if labels.is_empty() {
        let _ = writeln!(out, "{name} {value}");
    } else {
        let _ = writeln!(out, "{name}{{{labels}}} {value}");
    }
}

/// A family of one unlabelled sample.
pub fn single(out: &mut String, name: &str, kind: Kind, help: &str, value: impl Display) {
    family(out, name, kind, help);
    sample(out, name, "", value);
}

/// A label value as the text format wants it: `\`, `"` and line feeds escaped.
pub fn escape(v: &str) -> Cow<'_, str> {
    if !v.contains(['\\', '"', '\n']) {
        return Cow::Borrowed(v);
    }
    Cow::Owned(
        v.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_and_samples_are_written_as_the_text_format_says() {
        let mut out = String::new();
        single(&mut out, "up", Kind::Gauge, "Whether it is up.", 1);
        family(&mut out, "calls_total", Kind::Counter, "Calls.");
        sample(
            &mut out,
            "calls_total",
            &format!("route=\"{}\"", escape("a\"b")),
            3,
        );
        assert_eq!(
            out,
            "# HELP up Whether it is up.\n# TYPE up gauge\nup 1\n# HELP calls_total Calls.\n# TYPE calls_total counter\ncalls_total{route=\"a\\\"b\"} 3\n"
        );
    }
}
