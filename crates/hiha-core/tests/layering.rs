//! The architecture is layered: no module imports one that imports it back.
//!
//! For every crate of the workspace this reads the sources, takes as a unit
//! each top-level module (and each submodule of a folder module such as
//! `predictor/` or `residual/`), collects the `crate::…` and `super::…` paths
//! outside comments, and checks that the graph of units is acyclic. Edges
//! between a folder module and its own children (the folder declaring and
//! re-exporting them) are not imports of a sibling and are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src").flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The module path of a source file, e.g. `predictor::fic` or `codec`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts
        .last()
        .is_some_and(|l| l == "mod" || l == "lib" || l == "main")
    {
        parts.pop();
    }
    parts
}

/// The unit a module belongs to: its first two path components when the
/// first is a folder module with several files, else the first.
fn unit(path: &[String], folders: &BTreeSet<String>) -> String {
    match path {
        [] => String::new(),
        [a, b, ..] if folders.contains(a) => format!("{a}::{b}"),
        [a, ..] => a.clone(),
    }
}

fn code_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter(|l| {
        let t = l.trim_start();
        !(t.starts_with("//") || t.starts_with("#[doc"))
    })
}

fn imports(line: &str, here: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let bytes = line.as_bytes();
    for (i, _) in line.match_indices("crate::") {
        if i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_') {
            continue; // e.g. `hiha_crate::`
        }
        let rest = &line[i + 7..];
        let path: Vec<String> = rest
            .split("::")
            .map(|s| {
                s.chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect::<String>()
            })
            .take_while(|s: &String| {
                !s.is_empty() && s.chars().next().is_some_and(|c| c.is_ascii_lowercase())
            })
            .collect();
        if !path.is_empty() {
            out.push(path);
        }
    }
    for (i, _) in line.match_indices("super::") {
        if i > 0
            && (bytes[i - 1].is_ascii_alphanumeric()
                || bytes[i - 1] == b'_'
                || bytes[i - 1] == b':')
        {
            continue;
        }
        let rest = &line[i + 7..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if name.is_empty() || !name.chars().next().is_some_and(|c| c.is_ascii_lowercase()) {
            continue;
        }
        let mut p: Vec<String> = here[..here.len().saturating_sub(1)].to_vec();
        p.push(name);
        out.push(p);
    }
    out
}

fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for m in g.get(n).into_iter().flatten() {
            match state.get(m.as_str()).copied().unwrap_or(0) {
                1 => {
                    let at = stack.iter().position(|s| s == m).unwrap_or(0);
                    let mut c = stack[at..].to_vec();
                    c.push(m.clone());
                    return Some(c);
                }
                0 => {
                    if let Some(c) = visit(m, g, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        if state.get(n.as_str()).copied().unwrap_or(0) == 0 {
            let mut stack = Vec::new();
            if let Some(c) = visit(n, graph, &mut state, &mut stack) {
                return Some(c);
            }
        }
    }
    None
}

fn check_crate(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let folders: BTreeSet<String> = files
        .iter()
        .filter(|f| f.file_name().is_some_and(|n| n == "mod.rs"))
        .filter_map(|f| module_of(src, f).first().cloned())
        .collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let here = module_of(src, f);
        let from = unit(&here, &folders);
        let text = std::fs::read_to_string(f).expect("read");
        let is_test_file = here.last().is_some_and(|l| l == "tests");
        for line in code_lines(&text) {
            for target in imports(line, &here) {
                let to = unit(&target, &folders);
                let parent_child = from.split("::").next() == Some(to.as_str())
                    || to.split("::").next() == Some(from.as_str());
                if to.is_empty() || to == from || parent_child || is_test_file {
                    continue;
                }
                graph.entry(from.clone()).or_default().insert(to);
            }
        }
        graph.entry(from).or_default();
    }
    if let Some(c) = find_cycle(&graph) {
        panic!("import circle in {}: {}", src.display(), c.join(" -> "));
    }
    graph
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut checked = 0;
    for e in std::fs::read_dir(&root).expect("crates").flatten() {
        let src = e.path().join("src");
        if src.is_dir() {
            let g = check_crate(&src);
            checked += 1;
            if e.file_name() == "hiha-core" {
                // The predictor's shared fitting module sits below its users.
                for user in ["predictor::mim", "predictor::idm", "predictor::fic"] {
                    assert!(
                        g.get(user).is_some_and(|d| d.contains("predictor::fit")),
                        "{user} should use predictor::fit: {g:?}"
                    );
                }
            }
        }
    }
    assert!(checked >= 3, "found only {checked} crates");
}

#[test]
fn a_planted_circle_is_found() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("c".into());
    g.entry("c".into()).or_default().insert("a".into());
    assert_eq!(
        find_cycle(&g),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    g.get_mut("c").expect("c").clear();
    assert_eq!(find_cycle(&g), None);
}
