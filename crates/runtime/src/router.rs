//! The route table: hosts first (exact, then `*.suffix` wildcards longest first, then routes for any
//! host), then a trie of path segments per host.
//!
//! Lookup walks the request's segments, so its cost follows the path's depth, not the number of
//! routes. Conflicts resolve deterministically:
//! 1. the route whose path pattern is deeper (longer, in segments) wins — longest prefix;
//! 2. at the same depth, a static segment beats a template (`{sid}.json`, longest literals
//!    first), which beats a parameter (`/pets/mine` over `/pets/{id}.json` over `/pets/:id`), which
//!    beats a rest parameter (`{path*}`, one segment or more);
//! 3. among routes with the same pattern: draft routes requiring the testing header, then `exact`,
//!    then routes restricting methods, then more header/query conditions, then the smaller route id.
//!
//! A prefix matches on segment boundaries: `/users` matches `/users` and `/users/42`, not `/usersx`.

use std::collections::HashMap;
use std::sync::Arc;

use crate::pattern::{Segment, Template};
use crate::route::{CompiledRoute, RequestView};

/// Every request looks its host and segments up here: foldhash, not SipHash (the keys are the
/// routes' own, so a caller cannot make them collide).
type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// A node's static children: a short list while small (most nodes have one child), a hash map
/// once large (10,000 services under one prefix), so memory follows the number of routes.
enum Statics {
    Few(Vec<(Box<str>, Node)>),
    Many(Map<Box<str>, Node>),
}

/// Children kept in a list up to this many.
const FEW: usize = 8;

impl Default for Statics {
    fn default() -> Self {
        Statics::Few(Vec::new())
    }
}

impl Statics {
    fn get(&self, seg: &str) -> Option<&Node> {
        match self {
            Statics::Few(list) => list.iter().find(|(s, _)| &**s == seg).map(|(_, n)| n),
            Statics::Many(map) => map.get(seg),
        }
    }

    fn entry(&mut self, seg: String) -> &mut Node {
        if let Statics::Few(list) = self
            && list.len() >= FEW
            && !list.iter().any(|(s, _)| **s == *seg)
        {
            *self = Statics::Many(std::mem::take(list).into_iter().collect());
        }
        match self {
            Statics::Few(list) => match list.iter().position(|(s, _)| **s == *seg) {
                Some(i) => &mut list[i].1,
                None => {
                    list.push((seg.into_boxed_str(), Node::default()));
                    &mut list.last_mut().expect("pushed").1
                }
            },
            Statics::Many(map) => map.entry(seg.into_boxed_str()).or_default(),
        }
    }

    fn nodes_mut(&mut self) -> Box<dyn Iterator<Item = &mut Node> + '_> {
        match self {
            Statics::Few(list) => Box::new(list.iter_mut().map(|(_, n)| n)),
            Statics::Many(map) => Box::new(map.values_mut()),
        }
    }
}

#[derive(Default)]
struct Node {
    statics: Statics,
    /// Segments of literals and parameters, the longest literals first.
    templates: Vec<(Template, Node)>,
    param: Option<Box<Node>>,
    /// Routes whose pattern ends with a rest parameter here.
    rest: Option<Box<Node>>,
    routes: Vec<Arc<CompiledRoute>>,
}

impl Node {
    fn insert(&mut self, route: Arc<CompiledRoute>) {
        let mut node = self;
        for seg in route.pattern.clone() {
            node = match seg {
                Segment::Static(s) => node.statics.entry(s),
                Segment::Param(_) => node.param.get_or_insert_with(Default::default),
                Segment::Template(t) => match node.templates.iter().position(|(k, _)| *k == t) {
                    Some(i) => &mut node.templates[i].1,
                    None => {
                        node.templates.push((t, Node::default()));
                        &mut node.templates.last_mut().expect("pushed").1
                    }
                },
                Segment::Rest(_) => node.rest.get_or_insert_with(Default::default),
            };
        }
        node.routes.push(route);
    }

    fn sort(&mut self) {
        self.routes.sort_by(|a, b| a.priority().cmp(&b.priority()));
        self.routes.shrink_to_fit();
        self.statics.nodes_mut().for_each(Node::sort);
        self.templates
            .sort_by_key(|(t, _)| std::cmp::Reverse(t.literal_len()));
        self.templates.iter_mut().for_each(|(_, n)| n.sort());
        for child in [&mut self.param, &mut self.rest].into_iter().flatten() {
            child.sort();
        }
    }

    fn find(
        &self,
        segs: &[&str],
        depth: usize,
        req: &RequestView<'_>,
    ) -> Option<&Arc<CompiledRoute>> {
        if let Some(seg) = segs.get(depth) {
            if let Some(child) = self.statics.get(seg)
                && let Some(found) = child.find(segs, depth + 1, req)
            {
                return Some(found);
            }
            for (template, child) in &self.templates {
                if template.read(seg, |_, _| {})
                    && let Some(found) = child.find(segs, depth + 1, req)
                {
                    return Some(found);
                }
            }
            if let Some(child) = &self.param
                && let Some(found) = child.find(segs, depth + 1, req)
            {
                return Some(found);
            }
            // A rest parameter takes every segment left: nothing deeper to look at.
            if let Some(found) = self
                .rest
                .as_ref()
                .and_then(|r| r.routes.iter().find(|r| r.accepts(req)))
            {
                return Some(found);
            }
        }
        self.routes
            .iter()
            .find(|r| (!r.exact || depth == segs.len()) && r.accepts(req))
    }
}

/// The routes of one host.
#[derive(Default)]
struct PathTree {
    root: Node,
}

/// The found route.
pub struct Match {
    pub route: Arc<CompiledRoute>,
}

#[derive(Default)]
pub struct Router {
    exact: Map<String, PathTree>,
    /// `(".example.com", tree)` for `*.example.com`, longest suffix first.
    wildcard: Vec<(String, PathTree)>,
    any: PathTree,
    len: usize,
}

impl Router {
    /// Adds `route` under `host` (`api.example.com`, `*.example.com`, or empty / `*` for any host).
    pub(crate) fn add(&mut self, host: &str, route: Arc<CompiledRoute>) {
        let host = host.trim().to_ascii_lowercase();
        let tree = if host.is_empty() || host == "*" {
            &mut self.any
        } else if let Some(suffix) = host.strip_prefix('*') {
            let suffix = suffix.to_string();
            match self.wildcard.iter().position(|(s, _)| *s == suffix) {
                Some(i) => &mut self.wildcard[i].1,
                None => {
                    self.wildcard.push((suffix, PathTree::default()));
                    &mut self.wildcard.last_mut().expect("pushed").1
                }
            }
        } else {
            self.exact.entry(host).or_default()
        };
        tree.root.insert(route);
        self.len += 1;
    }

    /// Orders everything for lookup; called once when the table is complete.
    pub(crate) fn seal(&mut self) {
        self.wildcard
            .sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        self.exact.values_mut().for_each(|t| t.root.sort());
        self.wildcard.iter_mut().for_each(|(_, t)| t.root.sort());
        self.any.root.sort();
    }

    /// Number of (host, path) entries.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The route for `host` (lowercase, no port) and `path`.
    pub fn find(&self, host: &str, path: &str, req: &RequestView<'_>) -> Option<Match> {
        // Segments on the stack for the usual path depth; a heap copy only for deeper paths.
        let mut inline: [&str; 16] = [""; 16];
        let mut n = 0;
        let mut deep: Vec<&str> = Vec::new();
        for seg in path.split('/').filter(|s| !s.is_empty()) {
            if n < inline.len() {
                inline[n] = seg;
                n += 1;
            } else {
                if deep.is_empty() {
                    deep.extend_from_slice(&inline);
                }
                deep.push(seg);
            }
        }
        let segs: &[&str] = if deep.is_empty() { &inline[..n] } else { &deep };
        let in_tree = |t: &PathTree| t.root.find(segs, 0, req).cloned();
        let found = self
            .exact
            .get(host)
            .and_then(in_tree)
            .or_else(|| {
                self.wildcard
                    .iter()
                    .filter(|(suffix, _)| {
                        host.len() > suffix.len() && host.ends_with(suffix.as_str())
                    })
                    .find_map(|(_, t)| in_tree(t))
            })
            .or_else(|| in_tree(&self.any));
        found.map(|route| Match { route })
    }
}
