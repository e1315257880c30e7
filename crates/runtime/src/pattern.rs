//! A route's path pattern, segment by segment: literal (`users`), parameter (`:id`, `{id}`),
//! template (literals and parameters in one segment: `{sid}.json`, `{base}...{head}`), and a
//! trailing rest parameter (`{path*}`, `:path*`) that takes one segment or more, slashes included.

/// One segment of a route's path pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Segment {
    Static(String),
    /// `:name` or `{name}`.
    Param(String),
    /// Literals and parameters in one segment.
    Template(Template),
    /// `{name*}` or `:name*`, last: the rest of the path.
    Rest(String),
}

/// A segment of literals and parameters, never two parameters side by side (nothing would say
/// where one ends).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Template(Vec<Piece>);

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Piece {
    Lit(String),
    Param(String),
}

impl Template {
    /// `{sid}.json` → [param sid, ".json"]; `None` when the segment holds no parameter, an
    /// unclosed brace, an empty name or two parameters side by side.
    fn parse(seg: &str) -> Option<Template> {
        let mut pieces = Vec::new();
        let mut rest = seg;
        while !rest.is_empty() {
            match rest.find('{') {
                Some(0) => {
                    let end = rest.find('}')?;
                    let name = &rest[1..end];
                    if name.is_empty() || matches!(pieces.last(), Some(Piece::Param(_))) {
                        return None;
                    }
                    pieces.push(Piece::Param(name.to_string()));
                    rest = &rest[end + 1..];
                }
                Some(i) => {
                    pieces.push(Piece::Lit(rest[..i].to_string()));
                    rest = &rest[i..];
                }
                None => {
                    pieces.push(Piece::Lit(rest.to_string()));
                    rest = "";
                }
            }
        }
        pieces
            .iter()
            .any(|p| matches!(p, Piece::Param(_)))
            .then_some(Template(pieces))
    }

    /// How specific the template is: the longer its literals, the earlier it is tried.
    pub(crate) fn literal_len(&self) -> usize {
        self.0
            .iter()
            .map(|p| match p {
                Piece::Lit(l) => l.len(),
                Piece::Param(_) => 0,
            })
            .sum()
    }

    /// Reads `seg` with the template, giving each parameter its (non-empty) value: a parameter
    /// ends where the next literal first occurs.
    pub(crate) fn read<'t, 's>(
        &'t self,
        seg: &'s str,
        mut found: impl FnMut(&'t str, &'s str),
    ) -> bool {
        let mut at = 0;
        let mut pieces = self.0.iter().peekable();
        while let Some(piece) = pieces.next() {
            match piece {
                Piece::Lit(l) => {
                    if !seg[at..].starts_with(l.as_str()) {
                        return false;
                    }
                    at += l.len();
                }
                Piece::Param(name) => {
                    let end = match pieces.peek() {
                        Some(Piece::Lit(next)) => {
                            match seg[at..].get(1..).and_then(|s| s.find(next.as_str())) {
                                Some(i) => at + 1 + i,
                                None => return false,
                            }
                        }
                        _ => seg.len(),
                    };
                    if end <= at {
                        return false;
                    }
                    found(name, &seg[at..end]);
                    at = end;
                }
            }
        }
        at == seg.len()
    }
}

/// The segments of a route path.
pub(crate) fn parse(path: &str) -> Vec<Segment> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let last = segs.len().saturating_sub(1);
    segs.iter()
        .enumerate()
        .map(|(i, s)| {
            let named = s
                .strip_prefix(':')
                .or_else(|| s.strip_prefix('{').and_then(|n| n.strip_suffix('}')))
                .filter(|n| !n.contains(['{', '}']));
            match named {
                Some(name) if i == last && name.len() > 1 && name.ends_with('*') => {
                    Segment::Rest(name.trim_end_matches('*').to_string())
                }
                Some(name) => Segment::Param(name.to_string()),
                None => match Template::parse(s) {
                    Some(t) => Segment::Template(t),
                    None => Segment::Static(s.to_string()),
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(t: &str, seg: &str) -> Option<Vec<(String, String)>> {
        let Segment::Template(t) = &parse(t)[0] else {
            panic!("{t} is a template");
        };
        let mut got = Vec::new();
        t.read(seg, |n, v| got.push((n.to_string(), v.to_string())))
            .then_some(got)
    }

    #[test]
    fn segments_are_told_apart() {
        assert_eq!(
            parse("/a/:id/{x}/{path*}"),
            [
                Segment::Static("a".into()),
                Segment::Param("id".into()),
                Segment::Param("x".into()),
                Segment::Rest("path".into())
            ]
        );
        assert_eq!(
            parse("/{p*}/x")[0],
            Segment::Param("p*".into()),
            "rest only last"
        );
        assert!(matches!(parse("/{sid}.json")[0], Segment::Template(_)));
        assert_eq!(parse("/{a}{b}")[0], Segment::Static("{a}{b}".into()));
        assert_eq!(parse("/{open")[0], Segment::Static("{open".into()));
    }

    #[test]
    fn templates_read_their_parameters() {
        let pairs = |v: &[(&str, &str)]| -> Option<Vec<(String, String)>> {
            Some(
                v.iter()
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .collect(),
            )
        };
        assert_eq!(read("/{sid}.json", "CA12.json"), pairs(&[("sid", "CA12")]));
        assert_eq!(read("/{sid}.json", ".json"), None, "a value is never empty");
        assert_eq!(read("/{sid}.json", "CA12.xml"), None);
        assert_eq!(
            read("/{base}...{head}", "main...feature"),
            pairs(&[("base", "main"), ("head", "feature")])
        );
        assert_eq!(read("/v{n}", "v2"), pairs(&[("n", "2")]));
        assert_eq!(read("/{n}.tar.gz", "pkg.tar.gz"), pairs(&[("n", "pkg")]));
        assert_eq!(read("/x-{a}-y", "x-1-y"), pairs(&[("a", "1")]));
    }
}
