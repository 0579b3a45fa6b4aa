//! The shape of `idp/`'s imports, checked on every `cargo test`:
//!
//! - no file takes part in an import cycle (a file that uses an item of another file, directly or
//!   through others, is never used back);
//! - no layer uses a higher one, in the order `docs/architecture.md` gives on its line
//!   `Layer order (highest first): …`;
//! - no file of `idp/http/` is over 400 lines.
//!
//! Each file of `idp/` is parsed with `syn`. A path a file names (`use` declarations, and paths in
//! its code: `crate::…`, `super::…`, or starting with a name it imported) is resolved to the file
//! that defines the item, through re-exports (`pub use`) and glob imports, so that a `mod.rs` that
//! only declares and re-exports its children is not a hub of false cycles. Naming a module alone is
//! not a use; `#[cfg(test)]` code is left out, and so is `main.rs` (the binary over the library).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

type ModPath = Vec<String>;

/// One module: a file, or an inline `mod` block in a file.
#[derive(Default)]
struct Module {
    file: String,
    items: BTreeSet<String>,
    /// Names brought in by `use`, with their absolute target (before resolution).
    aliases: BTreeMap<String, ModPath>,
    /// Targets of `use …::*`.
    globs: Vec<ModPath>,
    /// Paths named in the module, relative to it.
    named: Vec<ModPath>,
}

struct Crate {
    modules: BTreeMap<ModPath, Module>,
}

fn is_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|attr| {
        attr.path().is_ident("cfg")
            && attr
                .parse_args::<syn::Meta>()
                .map(|meta| meta.path().is_ident("test"))
                .unwrap_or(false)
    })
}

fn flatten(tree: &syn::UseTree, prefix: &mut ModPath, out: &mut Vec<(ModPath, Option<String>)>) {
    match tree {
        syn::UseTree::Path(path) => {
            prefix.push(path.ident.to_string());
            flatten(&path.tree, prefix, out);
            prefix.pop();
        }
        syn::UseTree::Name(name) => {
            let name = name.ident.to_string();
            if name == "self" {
                out.push((prefix.clone(), prefix.last().cloned()));
            } else {
                let mut full = prefix.clone();
                full.push(name.clone());
                out.push((full, Some(name)));
            }
        }
        syn::UseTree::Rename(rename) => {
            let mut full = prefix.clone();
            if rename.ident != "self" {
                full.push(rename.ident.to_string());
            }
            out.push((full, Some(rename.rename.to_string())));
        }
        syn::UseTree::Glob(_) => out.push((prefix.clone(), None)),
        syn::UseTree::Group(group) => {
            for tree in &group.items {
                flatten(tree, prefix, out);
            }
        }
    }
}

/// Collects the paths named in code, without descending into `use` items or test code.
struct Named<'a>(&'a mut Vec<ModPath>);

impl<'ast> Visit<'ast> for Named<'_> {
    fn visit_path(&mut self, path: &'ast syn::Path) {
        if path.leading_colon.is_none() {
            self.0
                .push(path.segments.iter().map(|s| s.ident.to_string()).collect());
        }
        syn::visit::visit_path(self, path);
    }
    fn visit_item_use(&mut self, _: &'ast syn::ItemUse) {}
    fn visit_item_mod(&mut self, _: &'ast syn::ItemMod) {}
    fn visit_impl_item_fn(&mut self, item: &'ast syn::ImplItemFn) {
        if !is_test(&item.attrs) {
            syn::visit::visit_impl_item_fn(self, item);
        }
    }
}

fn item_name(item: &syn::Item) -> Option<String> {
    let ident = match item {
        syn::Item::Const(i) => &i.ident,
        syn::Item::Enum(i) => &i.ident,
        syn::Item::Fn(i) => &i.sig.ident,
        syn::Item::Macro(i) => i.ident.as_ref()?,
        syn::Item::Static(i) => &i.ident,
        syn::Item::Struct(i) => &i.ident,
        syn::Item::Trait(i) => &i.ident,
        syn::Item::Type(i) => &i.ident,
        syn::Item::Union(i) => &i.ident,
        _ => return None,
    };
    Some(ident.to_string())
}

impl Crate {
    fn load(root: &Path) -> Result<Crate, String> {
        let mut krate = Crate {
            modules: BTreeMap::new(),
        };
        let mut files = Vec::new();
        collect_files(root, &mut files)?;
        for file in files {
            let relative = file.strip_prefix(root).unwrap_or(&file).to_path_buf();
            if relative == Path::new("main.rs") {
                continue;
            }
            let source = std::fs::read_to_string(&file).map_err(|e| format!("{file:?}: {e}"))?;
            let parsed = syn::parse_file(&source).map_err(|e| format!("{file:?}: {e}"))?;
            let path = module_path(&relative);
            let name = format!("idp/{}", relative.display());
            krate.add(path, &name, &parsed.items);
        }
        Ok(krate)
    }

    fn add(&mut self, path: ModPath, file: &str, items: &[syn::Item]) {
        let mut module = Module {
            file: file.to_string(),
            ..Module::default()
        };
        for item in items {
            if is_test(attrs_of(item)) {
                continue;
            }
            match item {
                syn::Item::Use(use_item) => {
                    let mut flat = Vec::new();
                    flatten(&use_item.tree, &mut Vec::new(), &mut flat);
                    for (target, alias) in flat {
                        match alias {
                            Some(alias) if alias != "_" => {
                                module.aliases.insert(alias, target.clone());
                            }
                            Some(_) => {}
                            None => module.globs.push(target.clone()),
                        }
                        module.named.push(target);
                    }
                }
                syn::Item::Mod(inner) => {
                    if let Some((_, content)) = &inner.content {
                        let mut child = path.clone();
                        child.push(inner.ident.to_string());
                        self.add(child, file, content);
                    }
                }
                other => {
                    if let Some(name) = item_name(other) {
                        module.items.insert(name);
                    }
                    Named(&mut module.named).visit_item(other);
                }
            }
        }
        self.modules.entry(path).or_default().merge(module);
    }

    /// The absolute form of a path named in module `at`, or `None` for another crate's.
    fn absolute(&self, at: &ModPath, named: &[String]) -> Option<ModPath> {
        let module = self.modules.get(at)?;
        let first = named.first()?;
        let rest = || named[1..].to_vec();
        match first.as_str() {
            "crate" => Some(rest()),
            "self" => Some([at.clone(), rest()].concat()),
            "super" => {
                let mut base = at.clone();
                let mut named = named;
                while named.first().map(String::as_str) == Some("super") {
                    base.pop();
                    named = &named[1..];
                }
                Some([base, named.to_vec()].concat())
            }
            name => {
                let mut child = at.clone();
                child.push(name.to_string());
                // A path through a name goes to the child module of that name (types and modules
                // share a namespace; `mod tenant; use tenant::tenant;` names both), a lone name
                // to what was imported under it.
                let own = (named.len() > 1 && self.modules.contains_key(&child))
                    || module.items.contains(name);
                if !own && let Some(target) = module.aliases.get(name) {
                    if target.first() == Some(first) && target.len() >= named.len() {
                        // `use x::y as x;` and the like: resolved from the module itself.
                        return Some([at.clone(), target.clone(), rest()].concat());
                    }
                    let target = self.absolute(at, target)?;
                    return Some([target, rest()].concat());
                }
                if self.modules.contains_key(&child) || module.items.contains(name) {
                    return Some([at.clone(), named.to_vec()].concat());
                }
                None
            }
        }
    }

    /// The file that defines the item an absolute path names, or `None` for a module alone.
    fn defining_file(&self, path: &[String], depth: usize) -> Option<String> {
        if depth > 16 {
            return None;
        }
        let mut at: ModPath = Vec::new();
        for (i, segment) in path.iter().enumerate() {
            let module = self.modules.get(&at)?;
            let mut child = at.clone();
            child.push(segment.clone());
            if self.modules.contains_key(&child) {
                at = child;
                continue;
            }
            if module.items.contains(segment) {
                return Some(module.file.clone());
            }
            if let Some(target) = module.aliases.get(segment) {
                let target = self.absolute(&at, target)?;
                return self.defining_file(&[target, path[i + 1..].to_vec()].concat(), depth + 1);
            }
            for glob in &module.globs {
                if let Some(base) = self.absolute(&at, glob) {
                    let through = [base, path[i..].to_vec()].concat();
                    if let Some(file) = self.defining_file(&through, depth + 1) {
                        return Some(file);
                    }
                }
            }
            // Made by a macro (diesel's `table!`), or a variant or method: this module's file.
            return Some(module.file.clone());
        }
        None
    }

    /// Which files each file uses.
    fn edges(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (at, module) in &self.modules {
            let uses = edges.entry(module.file.clone()).or_default();
            for named in &module.named {
                let Some(absolute) = self.absolute(at, named) else {
                    continue;
                };
                if let Some(file) = self.defining_file(&absolute, 0)
                    && file != module.file
                {
                    uses.insert(file);
                }
            }
        }
        edges
    }
}

impl Module {
    fn merge(&mut self, other: Module) {
        if self.file.is_empty() {
            self.file = other.file;
        }
        self.items.extend(other.items);
        self.aliases.extend(other.aliases);
        self.globs.extend(other.globs);
        self.named.extend(other.named);
    }
}

fn attrs_of(item: &syn::Item) -> &[syn::Attribute] {
    match item {
        syn::Item::Const(i) => &i.attrs,
        syn::Item::Enum(i) => &i.attrs,
        syn::Item::Fn(i) => &i.attrs,
        syn::Item::Impl(i) => &i.attrs,
        syn::Item::Macro(i) => &i.attrs,
        syn::Item::Mod(i) => &i.attrs,
        syn::Item::Static(i) => &i.attrs,
        syn::Item::Struct(i) => &i.attrs,
        syn::Item::Trait(i) => &i.attrs,
        syn::Item::Type(i) => &i.attrs,
        syn::Item::Use(i) => &i.attrs,
        _ => &[],
    }
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{dir:?}: {e}"))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect_files(&path, out)?;
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

fn module_path(relative: &Path) -> ModPath {
    let mut parts: ModPath = relative
        .iter()
        .map(|part| part.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap_or_default();
    match last.as_str() {
        "lib.rs" | "mod.rs" => {}
        file => parts.push(file.trim_end_matches(".rs").to_string()),
    }
    parts
}

/// Files in import cycles: the strongly connected components of more than one file (Tarjan).
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(state: &mut State<'a>, node: &'a str) {
        let next = state.index.len();
        state.index.insert(node, next);
        state.low.insert(node, next);
        state.stack.push(node);
        state.on_stack.insert(node);
        let edges = state.edges;
        for target in edges.get(node).into_iter().flatten() {
            let target = target.as_str();
            if !state.index.contains_key(target) {
                visit(state, target);
                let low = state.low[target].min(state.low[node]);
                state.low.insert(node, low);
            } else if state.on_stack.contains(target) {
                let low = state.index[target].min(state.low[node]);
                state.low.insert(node, low);
            }
        }
        if state.low[node] == state.index[node] {
            let mut component = Vec::new();
            while let Some(top) = state.stack.pop() {
                state.on_stack.remove(top);
                component.push(top.to_string());
                if top == node {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                state.found.push(component);
            }
        }
    }
    let mut state = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for node in edges.keys() {
        if !state.index.contains_key(node.as_str()) {
            visit(&mut state, node);
        }
    }
    state.found
}

/// The layer of a file: its folder or root file under `idp/`, without `.rs`.
fn layer(file: &str) -> String {
    let inside = file.trim_start_matches("idp/");
    let first = inside.split('/').next().unwrap_or(inside);
    first.trim_end_matches(".rs").to_string()
}

/// The order of the layers, highest first, from `docs/architecture.md`.
fn layer_order(root: &Path) -> Result<Vec<String>, String> {
    let doc = std::fs::read_to_string(root.join("docs/architecture.md")).unwrap_or_default();
    let line = doc
        .lines()
        .find_map(|line| line.split_once("Layer order (highest first):"))
        .map(|(_, order)| order.to_string())
        .ok_or("docs/architecture.md has no line `Layer order (highest first): …`")?;
    Ok(line
        .split(',')
        .map(|name| name.trim().trim_matches(['`', '.']).to_string())
        .filter(|name| !name.is_empty())
        .collect())
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn no_file_of_idp_takes_part_in_an_import_cycle() {
    let krate = Crate::load(&root().join("idp")).unwrap();
    let edges = krate.edges();
    let found = cycles(&edges);
    let described: Vec<String> = found
        .iter()
        .map(|component| {
            let inside: BTreeSet<&String> = component.iter().collect();
            let uses: Vec<String> = component
                .iter()
                .flat_map(|file| {
                    edges[file]
                        .iter()
                        .filter(|target| inside.contains(target))
                        .map(move |target| format!("    {file} uses {target}"))
                })
                .collect();
            format!("  {}:\n{}", component.join(", "), uses.join("\n"))
        })
        .collect();
    assert!(
        found.is_empty(),
        "files of idp/ that import each other in a cycle:\n{}",
        described.join("\n")
    );
}

#[test]
fn no_layer_of_idp_uses_a_higher_one() {
    let root = root();
    let order = layer_order(&root).unwrap();
    let rank = |layer: &str| order.iter().position(|name| name == layer);
    let krate = Crate::load(&root.join("idp")).unwrap();
    let mut wrong = Vec::new();
    for (file, targets) in krate.edges() {
        let from = layer(&file);
        if from == "lib" {
            continue;
        }
        let Some(from_rank) = rank(&from) else {
            wrong.push(format!(
                "  {file}: layer `{from}` is not in docs/architecture.md's order"
            ));
            continue;
        };
        for target in targets {
            let to = layer(&target);
            if rank(&to).is_some_and(|to_rank| to_rank < from_rank) {
                wrong.push(format!("  {file} ({from}) uses {target} ({to})"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "lower layers that use higher ones (order: {}):\n{}",
        order.join(", "),
        wrong.join("\n")
    );
}

/// The checker itself finds what it must: a cycle through a re-export-free pair, and none
/// through a `mod.rs` that only re-exports.
/// The most lines a file of `idp/http/` has: a handler's file that grows past it holds more than
/// one page's or endpoint's work (docs/architecture.md, "How to add a page").
const HTTP_FILE_LINES: usize = 400;

#[test]
fn no_file_of_idp_http_is_over_its_length() {
    let mut files = Vec::new();
    collect_files(&root().join("idp/http"), &mut files).unwrap();
    assert!(files.len() > 20, "{files:?}");
    let long: Vec<String> = files
        .iter()
        .filter_map(|file| {
            let lines = std::fs::read_to_string(file).unwrap().lines().count();
            (lines > HTTP_FILE_LINES).then(|| format!("{} ({lines} lines)", file.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "files of idp/http/ over {HTTP_FILE_LINES} lines (split them by page or endpoint):\n  {}",
        long.join("\n  ")
    );
}

#[test]
fn the_checker_sees_a_cycle_and_not_a_re_export() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    edges.entry("a".into()).or_default().insert("b".into());
    edges.entry("b".into()).or_default().insert("c".into());
    edges.entry("c".into()).or_default().insert("a".into());
    edges.entry("d".into()).or_default().insert("a".into());
    assert_eq!(
        cycles(&edges),
        vec![vec!["a".to_string(), "b".into(), "c".into()]]
    );

    let mut krate = Crate {
        modules: BTreeMap::new(),
    };
    let parse = |source: &str| {
        syn::parse_file(source)
            .map(|file| file.items)
            .unwrap_or_default()
    };
    krate.add(vec![], "idp/lib.rs", &parse("pub mod store;"));
    krate.add(
        vec!["store".into()],
        "idp/store/mod.rs",
        &parse("mod conn; mod users; pub use conn::Conn; pub fn pool() -> Conn { conn::open() }"),
    );
    krate.add(
        vec!["store".into(), "conn".into()],
        "idp/store/conn.rs",
        &parse("pub struct Conn; pub fn open() -> Conn { Conn }"),
    );
    krate.add(
        vec!["store".into(), "users".into()],
        "idp/store/users.rs",
        &parse("use super::Conn; pub fn find(c: &Conn) { super::pool(); }"),
    );
    // A function imported from the module of the same name (`use tenant::tenant;`).
    krate.add(
        vec!["config".into()],
        "idp/config/mod.rs",
        &parse("mod tenant; use tenant::tenant; pub fn load() { tenant(); }"),
    );
    krate.add(
        vec!["config".into(), "tenant".into()],
        "idp/config/tenant.rs",
        &parse("pub fn tenant() {}"),
    );
    let edges = krate.edges();
    assert_eq!(
        edges["idp/config/mod.rs"],
        BTreeSet::from(["idp/config/tenant.rs".to_string()])
    );
    assert_eq!(
        edges["idp/store/users.rs"],
        BTreeSet::from([
            "idp/store/conn.rs".to_string(),
            "idp/store/mod.rs".to_string()
        ])
    );
    assert_eq!(
        edges["idp/store/mod.rs"],
        BTreeSet::from(["idp/store/conn.rs".to_string()])
    );
    assert!(cycles(&edges).is_empty());
}

/// The files of the repository that the docs and the code's comments name: every path written
/// as `idp/…`, `tests/…`, `docs/…`, `templates/…`, `migrations/…`, `scripts/…` or `config/…`.
fn cited_paths(text: &str) -> Vec<String> {
    const ROOTS: [&str; 7] = [
        "idp/",
        "tests/",
        "docs/",
        "templates/",
        "migrations/",
        "scripts/",
        "config/",
    ];
    let mut found = Vec::new();
    for (start, _) in text.char_indices() {
        let rest = &text[start..];
        let boundary = text[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '/' || c == '.' || c == '-'));
        if !boundary || !ROOTS.iter().any(|root| rest.starts_with(root)) {
            continue;
        }
        let path: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || matches!(c, '_' | '/' | '.' | '-'))
            .collect();
        let after = rest[path.len()..].chars().next();
        let path = path.trim_end_matches(['.', '/']).to_string();
        // Placeholders and patterns (`templates/mail/<kind>/`, `migrations/*/…`) name no one file.
        if matches!(after, Some('<' | '*' | '…' | '{')) || path.ends_with('-') {
            continue;
        }
        found.push(path);
    }
    found
}

#[test]
fn every_file_the_docs_and_comments_cite_exists() {
    let root = root();
    let mut texts: Vec<PathBuf> = vec![root.join("README.md")];
    collect_files(&root.join("idp"), &mut texts).unwrap();
    for entry in std::fs::read_dir(root.join("docs"))
        .into_iter()
        .flatten()
        .flatten()
    {
        if entry.path().extension().is_some_and(|ext| ext == "md") {
            texts.push(entry.path());
        }
    }
    let mut missing = BTreeSet::new();
    for file in &texts {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let shown = file
            .strip_prefix(&root)
            .unwrap_or(file)
            .display()
            .to_string();
        for line in text.lines() {
            if line.contains("DESIGN.md") || line.contains("STYLE.md") {
                missing.insert(format!(
                    "{shown}: cites a file outside the repository: {line}"
                ));
            }
        }
        for path in cited_paths(&text) {
            if !root.join(&path).exists() {
                missing.insert(format!("{shown}: {path}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs and comments that cite files that are not in the repository:\n  {}",
        missing.into_iter().collect::<Vec<_>>().join("\n  ")
    );
}

#[test]
fn cited_paths_are_read_as_written() {
    assert_eq!(
        cited_paths("see `idp/http/util.rs`, tests/integration/, and templates/mail/<kind>/x."),
        vec!["idp/http/util.rs".to_string(), "tests/integration".into()]
    );
    assert!(cited_paths("a/idp/x.rs and migrations/*/up.sql").is_empty());
}
