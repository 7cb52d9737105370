//! The library's layers point down and no module imports its importer (shared/DESIGN.md, "Layers").
//!
//! Reads `shared/src` as text: every `use` and every path through `crate::`, `super::`, `self::` or a
//! child module becomes an edge from the file that writes it to the file that defines what it names
//! (re-exports followed to the definition). Test code (`#[cfg(test)]` items and the files they
//! declare) is left out: it may reach up to build its world, and nothing it imports ships.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Layer {
    /// Parses, decides, renders: no I/O, nothing above it.
    Core,
    /// The traits the flows act through.
    Ports,
    /// The implementations of the ports (the only `aws_sdk_*` importers, and the in-process store).
    Adapters,
    /// The executor and its steps, the approval flow: act through the ports, never name an adapter.
    Flows,
    /// Wiring: the Lambda handlers, the command line, the binary.
    Entry,
}

impl Layer {
    fn may_import(self, below: Layer) -> bool {
        match self {
            Layer::Core => below == Layer::Core,
            Layer::Ports => below <= Layer::Ports,
            Layer::Adapters | Layer::Flows => below <= Layer::Ports || below == self,
            Layer::Entry => true,
        }
    }
}

/// Every module of the library and its layer. A new module must be placed here (the test says so),
/// so the picture in shared/DESIGN.md stays the whole picture.
const LAYERS: &[(&str, Layer)] = &[
    ("", Layer::Entry),
    ("bin::firebreak", Layer::Entry),
    ("lambda", Layer::Entry),
    ("cli", Layer::Entry),
    ("history", Layer::Entry),
    ("exit", Layer::Entry),
    ("playbooks", Layer::Flows),
    ("aws", Layer::Adapters),
    ("local_state", Layer::Adapters),
    ("ports", Layer::Ports),
    ("approval", Layer::Core),
    ("cidr", Layer::Core),
    ("clock", Layer::Core),
    ("config", Layer::Core),
    ("confirmation", Layer::Core),
    ("decision_log", Layer::Core),
    ("domains", Layer::Core),
    ("write_back", Layer::Core),
    ("error", Layer::Core),
    ("events", Layer::Core),
    ("function", Layer::Core),
    ("held", Layer::Core),
    ("iam", Layer::Core),
    ("incident", Layer::Core),
    ("ingress_window", Layer::Core),
    ("metrics", Layer::Core),
    ("metrics_insights", Layer::Core),
    ("notify", Layer::Core),
    ("plan", Layer::Core),
    ("policy", Layer::Core),
    ("receipt", Layer::Core),
    ("repeats", Layer::Core),
    ("report", Layer::Core),
    ("seal", Layer::Core),
    ("state_keys", Layer::Core),
    ("text", Layer::Core),
];

fn layer_of(module: &str) -> Option<Layer> {
    LAYERS
        .iter()
        .filter(|(prefix, _)| {
            module == *prefix
                || (!prefix.is_empty() && module.starts_with(prefix) && module[prefix.len()..].starts_with("::"))
        })
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(_, layer)| *layer)
}

/// One file of the library, its text with comments, literals and test code blanked (lines kept).
struct Module {
    name: String,
    file: PathBuf,
    code: String,
    children: BTreeSet<String>,
}

/// One reference from a file to another: where it is written and what it says.
#[derive(Debug, Clone)]
struct Reference {
    from: String,
    to: String,
    line: usize,
    text: String,
}

#[test]
fn the_library_layers_point_down_and_no_module_imports_its_importer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/src");
    let problems = problems(&src);
    assert!(problems.is_empty(), "the layers of shared/src are broken:\n{}", problems.join("\n"));
}

#[test]
fn the_check_names_an_upward_import_a_loop_and_a_module_without_a_layer() {
    let src = std::env::temp_dir().join(format!("firebreak-layers-{}", std::process::id()));
    let files = [
        ("lib.rs", "pub mod cli;\npub mod history;\npub mod notify;\npub mod playbooks;\npub mod stray;\n"),
        ("cli.rs", "pub fn run() { crate::history::command(); }\n"),
        ("history.rs", "use crate::cli::run;\npub fn command() {}\n"),
        (
            "notify/mod.rs",
            "mod links;\npub use links::links;\n// use crate::playbooks::Commented;\npub fn render() {}\n",
        ),
        ("notify/links.rs", "use super::render;\npub fn links() { let _ = \"crate::playbooks::InAString\"; }\n"),
        (
            "playbooks/mod.rs",
            "mod executor;\npub use executor::Responder;\n#[cfg(test)]\nmod tests { use crate::cli::run; }\n",
        ),
        ("playbooks/executor.rs", "use crate::notify::{links, render};\npub struct Responder;\n"),
        ("plan.rs", "use crate::playbooks::Responder;\n"),
        ("stray.rs", "pub fn nothing() {}\n"),
    ];
    for (name, text) in files {
        let path = src.join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("fixture directory");
        std::fs::write(&path, text).expect("fixture file");
    }
    let mut found = problems(&src);
    std::fs::remove_dir_all(&src).expect("fixture removed");
    found.sort();
    let said = found.join("\n");
    assert_eq!(found.len(), 4, "{said}");
    assert!(said.contains("import loop among cli, history: cli -> history -> cli"), "{said}");
    assert!(said.contains("import loop among notify, notify::links: notify -> notify::links -> notify"), "{said}");
    assert!(said.contains("plan.rs:1: `plan` (Core) imports `playbooks::executor` (Flows)"), "{said}");
    assert!(said.contains("module `stray` has no layer"), "{said}");
    assert!(!said.contains("Commented") && !said.contains("InAString") && !said.contains("playbooks::tests"), "{said}");
    assert!(!said.contains("`playbooks::executor` (Flows) imports"), "a flow may import the core: {said}");
}

/// Every broken rule under `src`, one text each, naming the file, the line and what it says.
fn problems(src: &Path) -> Vec<String> {
    let modules = read_modules(src);
    assert!(!modules.is_empty(), "no module read from {}", src.display());
    let references = references(&modules);
    let mut problems = Vec::new();

    for module in modules.values() {
        if layer_of(&module.name).is_none() {
            problems.push(format!(
                "{}: module `{}` has no layer: place it in LAYERS and shared/DESIGN.md",
                module.file.display(),
                module.name
            ));
        }
    }
    for r in &references {
        if let (Some(from), Some(to)) = (layer_of(&r.from), layer_of(&r.to)) {
            if !from.may_import(to) {
                problems.push(format!(
                    "{}:{}: `{}` ({from:?}) imports `{}` ({to:?}), a layer it may not reach: {}",
                    modules[&r.from].file.display(),
                    r.line,
                    module_label(&r.from),
                    module_label(&r.to),
                    r.text
                ));
            }
        }
    }
    for (component, cycle) in cycles(&references) {
        let mut lines = vec![format!(
            "import loop among {}: {}",
            component.iter().map(|m| module_label(m)).collect::<Vec<_>>().join(", "),
            cycle.iter().map(|m| module_label(m)).collect::<Vec<_>>().join(" -> ")
        )];
        for pair in cycle.windows(2) {
            if let Some(r) = references.iter().find(|r| r.from == pair[0] && r.to == pair[1]) {
                lines.push(format!("  {}:{}: {}", modules[&r.from].file.display(), r.line, r.text));
            }
        }
        problems.push(lines.join("\n"));
    }
    problems
}

fn module_label(name: &str) -> &str {
    if name.is_empty() {
        "lib"
    } else {
        name
    }
}

fn read_modules(src: &Path) -> BTreeMap<String, Module> {
    let mut files = Vec::new();
    collect_rs(src, &mut files);
    let mut modules = BTreeMap::new();
    let mut test_only = BTreeSet::new();
    for file in files {
        let relative = file.strip_prefix(src).expect("under src").to_string_lossy().replace('\\', "/");
        let name = match relative.as_str() {
            "lib.rs" => String::new(),
            _ => relative.trim_end_matches(".rs").trim_end_matches("/mod").replace('/', "::"),
        };
        let raw = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let (code, test_children) = strip_tests(&blank_comments_and_literals(&raw));
        for child in test_children {
            test_only.insert(join(&name, &child));
        }
        let children = child_modules(&code);
        modules.insert(name.clone(), Module { name, file, code, children });
    }
    modules.retain(|name, _| !test_only.iter().any(|t| name == t || name.starts_with(&format!("{t}::"))));
    modules
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).expect("read_dir").map(|e| e.expect("entry").path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_string()
    } else {
        format!("{parent}::{child}")
    }
}

/// Comments become spaces and string and character literals empty, keeping every newline.
fn blank_comments_and_literals(raw: &str) -> String {
    let chars: Vec<char> = raw.chars().collect();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r'
            && (next == Some('"') || next == Some('#'))
            && !is_ident(chars.get(i.wrapping_sub(1)).copied())
        {
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            out.push_str("\"\"");
            j += 1;
            loop {
                match chars.get(j) {
                    None => break,
                    Some('"') if (1..=hashes).all(|k| chars.get(j + k) == Some(&'#')) => {
                        j += 1 + hashes;
                        break;
                    }
                    Some(&ch) => {
                        if ch == '\n' {
                            out.push('\n');
                        }
                        j += 1;
                    }
                }
            }
            i = j;
        } else if c == '"' {
            out.push_str("\"\"");
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                if chars.get(i) == Some(&'\n') {
                    out.push('\n');
                }
                i += 1;
            }
            i += 1;
        } else if c == '\'' && (chars.get(i + 2) == Some(&'\'') || next == Some('\\')) {
            // A character literal ('a', '\n', '\u{..}'), not a lifetime.
            out.push_str("' '");
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn is_ident(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || c == '_')
}

/// Blanks every item under `#[cfg(test)]`, returning the names of the test-only child files it declares.
fn strip_tests(code: &str) -> (String, Vec<String>) {
    let mut out: Vec<char> = code.chars().collect();
    let mut children = Vec::new();
    let marker: Vec<char> = "#[cfg(test)]".chars().collect();
    let mut i = 0;
    while i + marker.len() <= out.len() {
        if out[i..i + marker.len()] != marker[..] {
            i += 1;
            continue;
        }
        let start = i;
        let mut j = i + marker.len();
        let mut depth = 0;
        while j < out.len() {
            match out[j] {
                ';' if depth == 0 => break,
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
            j += 1;
        }
        let item: String = out[start..=j.min(out.len() - 1)].iter().collect();
        let words: Vec<&str> = item.split(|c: char| !is_ident(Some(c))).filter(|w| !w.is_empty()).collect();
        if item.trim_end().ends_with(';') {
            if let Some(pos) = words.iter().position(|w| *w == "mod") {
                if let Some(name) = words.get(pos + 1) {
                    children.push((*name).to_string());
                }
            }
        }
        let end = j.min(out.len() - 1);
        for ch in &mut out[start..=end] {
            if *ch != '\n' {
                *ch = ' ';
            }
        }
        i = j + 1;
    }
    (out.into_iter().collect(), children)
}

/// The child modules a file declares (`mod x;`, `pub mod x;`, `pub(crate) mod x;`).
fn child_modules(code: &str) -> BTreeSet<String> {
    let tokens = tokens(code);
    tokens.windows(3).filter(|w| w[0].1 == "mod" && w[2].1 == ";").map(|w| w[1].1.clone()).collect()
}

/// Identifiers and punctuation with their line numbers; `::` is one token.
fn tokens(code: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut line = 1;
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if is_ident(Some(c)) {
            let start = i;
            while is_ident(chars.get(i).copied()) {
                i += 1;
            }
            out.push((line, chars[start..i].iter().collect()));
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            out.push((line, "::".to_string()));
            i += 2;
        } else {
            out.push((line, c.to_string()));
            i += 1;
        }
    }
    out
}

/// A path as written, the line it starts on, and whether it is a `pub use` (a re-export).
struct WrittenPath {
    segments: Vec<String>,
    line: usize,
    reexport: bool,
    alias: Option<String>,
    in_use: bool,
}

/// Every path in a file: each leaf of each `use` tree, and each `a::b::c` outside them.
fn paths(code: &str) -> Vec<WrittenPath> {
    let tokens = tokens(code);
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let (line, word) = (&tokens[i].0, tokens[i].1.as_str());
        if word == "use" && (i == 0 || !matches!(tokens[i - 1].1.as_str(), "::")) {
            let reexport =
                i > 0 && (tokens[i - 1].1 == "pub" || (tokens[i - 1].1 == ")" && i >= 4 && tokens[i - 4].1 == "pub"));
            let end = (i..tokens.len()).find(|&k| tokens[k].1 == ";").unwrap_or(tokens.len());
            let words: Vec<&str> = tokens[i + 1..end].iter().map(|t| t.1.as_str()).collect();
            let mut pos = 0;
            for (segments, alias) in use_tree(&words, &mut pos, &[]) {
                out.push(WrittenPath { segments, line: *line, reexport, alias, in_use: true });
            }
            i = end + 1;
            continue;
        }
        if is_ident(word.chars().next())
            && (i == 0 || tokens[i - 1].1 != "::")
            && tokens.get(i + 1).is_some_and(|t| t.1 == "::")
        {
            let mut segments = vec![word.to_string()];
            let mut k = i + 1;
            while k + 1 < tokens.len() && tokens[k].1 == "::" && is_ident(tokens[k + 1].1.chars().next()) {
                segments.push(tokens[k + 1].1.clone());
                k += 2;
            }
            out.push(WrittenPath { segments, line: *line, reexport: false, alias: None, in_use: false });
            i = k;
            continue;
        }
        i += 1;
    }
    out
}

/// The leaves of a `use` tree: `a::{b, c::{d as e, self}}` gives `a::b`, `a::c::d` (as `e`), `a::c`.
fn use_tree(words: &[&str], pos: &mut usize, prefix: &[String]) -> Vec<(Vec<String>, Option<String>)> {
    let mut path: Vec<String> = prefix.to_vec();
    let mut out = Vec::new();
    while *pos < words.len() {
        match words[*pos] {
            "::" => *pos += 1,
            "{" => {
                *pos += 1;
                loop {
                    out.extend(use_tree(words, pos, &path));
                    match words.get(*pos) {
                        Some(&",") => *pos += 1,
                        Some(&"}") => {
                            *pos += 1;
                            break;
                        }
                        _ => break,
                    }
                    if words.get(*pos) == Some(&"}") {
                        *pos += 1;
                        break;
                    }
                }
                return out;
            }
            "," | "}" => break,
            "as" => {
                let alias = words.get(*pos + 1).map(|w| (*w).to_string());
                *pos += 2;
                out.push((path, alias));
                return out;
            }
            "self" if !path.is_empty() => *pos += 1,
            word => {
                path.push(word.to_string());
                *pos += 1;
            }
        }
    }
    out.push((path, None));
    out
}

/// Resolves every path of every module to the module that defines what it names.
fn references(modules: &BTreeMap<String, Module>) -> Vec<Reference> {
    let parsed: BTreeMap<&str, Vec<WrittenPath>> = modules.iter().map(|(n, m)| (n.as_str(), paths(&m.code))).collect();
    // Re-exports: (module, name) -> absolute path of what it re-exports.
    let mut reexports: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for (name, module) in modules {
        for p in parsed[name.as_str()].iter().filter(|p| p.reexport) {
            if let Some(absolute) = absolute(module, &p.segments, &BTreeMap::new()) {
                let exported = p.alias.clone().or_else(|| p.segments.last().cloned()).unwrap_or_default();
                reexports.insert((name.clone(), exported), absolute);
            }
        }
    }
    let mut out = Vec::new();
    for (name, module) in modules {
        let source = std::fs::read_to_string(&module.file).unwrap_or_default();
        let lines: Vec<&str> = source.lines().collect();
        // Names a `use` brought into scope that are modules, so `approval::http::x` after `use crate::approval;` resolves.
        let mut aliases: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for p in parsed[name.as_str()].iter().filter(|p| p.in_use) {
            if let Some(absolute) = absolute(module, &p.segments, &BTreeMap::new()) {
                if modules.contains_key(&absolute.join("::")) {
                    let local = p.alias.clone().or_else(|| p.segments.last().cloned()).unwrap_or_default();
                    aliases.insert(local, absolute);
                }
            }
        }
        for p in &parsed[name.as_str()] {
            let Some(absolute) = absolute(module, &p.segments, &aliases) else { continue };
            let Some(target) = defining_module(modules, &reexports, &absolute, 0) else { continue };
            if &target == name || (p.in_use && modules.contains_key(&absolute.join("::"))) {
                continue;
            }
            let text = lines.get(p.line - 1).map(|l| l.trim().to_string()).unwrap_or_default();
            out.push(Reference { from: name.clone(), to: target, line: p.line, text });
        }
    }
    out
}

/// `segments` as written in `module`, made absolute from the crate root; `None` for other crates.
fn absolute(module: &Module, segments: &[String], aliases: &BTreeMap<String, Vec<String>>) -> Option<Vec<String>> {
    let first = segments.first()?;
    let own: Vec<String> =
        if module.name.is_empty() { vec![] } else { module.name.split("::").map(str::to_string).collect() };
    // A file that is not `mod.rs` or `lib.rs` is a leaf: `super` is its parent module.
    let mut base = own.clone();
    let rest: &[String];
    match first.as_str() {
        // The binary names the library by its crate name.
        "crate" | "firebreak" => {
            base.clear();
            rest = &segments[1..];
        }
        "self" => rest = &segments[1..],
        "super" => {
            let mut k = 0;
            while segments.get(k).is_some_and(|s| s == "super") {
                base.pop();
                k += 1;
            }
            rest = &segments[k..];
        }
        _ if module.children.contains(first) => rest = segments,
        _ if aliases.contains_key(first) => {
            base = aliases[first].clone();
            rest = &segments[1..];
        }
        _ => return None,
    }
    let mut path = base;
    path.extend(rest.iter().cloned());
    Some(path)
}

/// The module that defines `path`'s item, following re-exports; the longest module prefix otherwise.
fn defining_module(
    modules: &BTreeMap<String, Module>,
    reexports: &BTreeMap<(String, String), Vec<String>>,
    path: &[String],
    depth: usize,
) -> Option<String> {
    let split = (0..=path.len()).rev().find(|&k| modules.contains_key(&path[..k].join("::")))?;
    let module = path[..split].join("::");
    if let Some(item) = path.get(split) {
        if depth < 8 {
            if let Some(target) = reexports.get(&(module.clone(), item.clone())) {
                let mut next = target.clone();
                next.extend(path[split + 1..].iter().cloned());
                return defining_module(modules, reexports, &next, depth + 1);
            }
        }
    }
    Some(module)
}

/// Every import loop: the modules that reach each other, and the shortest cycle through the first.
fn cycles(references: &[Reference]) -> Vec<(Vec<String>, Vec<String>)> {
    let mut graph: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for r in references {
        graph.entry(&r.from).or_default().insert(&r.to);
    }
    let nodes: BTreeSet<&str> = graph.keys().copied().chain(graph.values().flatten().copied()).collect();
    let reach = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from];
        while let Some(n) = stack.pop() {
            for &m in graph.get(n).into_iter().flatten() {
                if seen.insert(m) {
                    stack.push(m);
                }
            }
        }
        seen
    };
    let reachable: BTreeMap<&str, BTreeSet<&str>> = nodes.iter().map(|&n| (n, reach(n))).collect();
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    for &n in &nodes {
        if done.contains(n) || !reachable[n].contains(n) {
            continue;
        }
        let component: BTreeSet<&str> =
            nodes.iter().copied().filter(|&m| reachable[n].contains(m) && reachable[m].contains(n)).collect();
        done.extend(component.iter().copied());
        let cycle = shortest_cycle(&graph, n).into_iter().map(str::to_string).collect();
        out.push((component.into_iter().map(str::to_string).collect(), cycle));
    }
    out
}

fn shortest_cycle<'a>(graph: &BTreeMap<&'a str, BTreeSet<&'a str>>, start: &'a str) -> Vec<&'a str> {
    let mut previous: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(n) = queue.pop_front() {
        for &m in graph.get(n).into_iter().flatten() {
            if m == start {
                let mut cycle = vec![start];
                let mut at = n;
                while at != start {
                    cycle.push(at);
                    at = previous[at];
                }
                cycle.push(start);
                let last = cycle.len() - 1;
                cycle[1..last].reverse();
                return cycle;
            }
            if !previous.contains_key(m) {
                previous.insert(m, n);
                queue.push_back(m);
            }
        }
    }
    vec![start]
}
