//! The modules of `proto` form layers: no module reaches, through `crate::...` imports, back to
//! itself. The leaves depend on nothing else in the crate but the bounds (`limits`):
//! `message_kind`, `text`; `decode` builds only on those two, `time` only on `decode`. A graph with a circle is caught (the negative control).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Graph = BTreeMap<String, BTreeSet<String>>;

/// The crate's top-level modules and which others each one uses (test code left out).
fn module_graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph = Graph::new();
    let mut add = |module: &str, text: &str| {
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let uses = graph.entry(module.to_owned()).or_default();
        for (i, _) in code.match_indices("crate::") {
            let name: String =
                code[i + "crate::".len()..].chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
            if !name.is_empty() && name != module && name != "wire" {
                uses.insert(name);
            }
        }
    };
    for entry in std::fs::read_dir(&src).expect("proto/src").flatten() {
        let path = entry.path();
        let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_owned();
        if path.is_dir() {
            for file in std::fs::read_dir(&path).expect("a module folder").flatten() {
                add(&name, &std::fs::read_to_string(file.path()).unwrap_or_default());
            }
        } else if name != "lib" {
            add(&name, &std::fs::read_to_string(&path).unwrap_or_default());
        }
    }
    graph
}

/// A circle in `graph`, if there is one, as the modules along it.
fn circle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(node: &str, graph: &Graph, path: &mut Vec<String>, done: &mut BTreeSet<String>) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            return Some(path[start..].to_vec());
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn proto_has_no_import_circle_and_its_leaves_stand_alone() {
    let graph = module_graph();
    assert!(graph.len() > 15, "found only {:?}", graph.keys());
    assert_eq!(circle(&graph), None, "modules import each other in a circle");
    let limits = BTreeSet::from(["limits".to_owned()]);
    assert_eq!(graph["limits"], BTreeSet::new(), "limits depends on nothing");
    assert_eq!(graph["text"], BTreeSet::new(), "text depends on nothing");
    for leaf in ["message_kind", "text"] {
        assert!(graph[leaf].is_subset(&limits), "{leaf} should depend on nothing but limits: {:?}", graph[leaf]);
    }
    let below_decode = BTreeSet::from(["limits".to_owned(), "text".to_owned()]);
    assert!(graph["decode"].is_subset(&below_decode), "decode builds only on limits and text: {:?}", graph["decode"]);
    assert_eq!(graph["time"], BTreeSet::from(["decode".to_owned()]), "time builds only on decode");
    assert!(!graph["identity"].contains("envelope"), "identity sits below envelope");
}

#[test]
fn a_circle_is_caught() {
    let edge = |a: &str, b: &str| (a.to_owned(), BTreeSet::from([b.to_owned()]));
    let graph = Graph::from([edge("decode", "identity"), edge("identity", "envelope"), edge("envelope", "decode")]);
    assert_eq!(circle(&graph).map(|c| c.len()), Some(3));
    let layered = Graph::from([edge("envelope", "identity"), edge("identity", "decode")]);
    assert_eq!(circle(&layered), None);
}
