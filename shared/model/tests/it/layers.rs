//! The model's modules form layers, read bottom up. Each module uses only the modules listed
//! before it, so that the model has a reading order and no cycle can come back. A new module
//! must be placed in the table. Doc links and test code do not count.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// The reading order, by layer. Within a layer, a module may use the ones listed before it.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "vocabulary",
        &["states", "ids", "lifecycle", "expiry", "sweep", "signature"],
    ),
    ("records and guards", &["records", "accounts", "leases"]),
    ("wire format", &["webhook"]),
    ("change and intake", &["activation", "change", "intake"]),
    ("audit", &["audit", "erasure"]),
    ("writes", &["writes"]),
    ("owner decisions", &["decisions"]),
    ("ledger", &["ledger"]),
    ("read models", &["domain_events"]),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn parse(path: &Path) -> syn::File {
    let text = std::fs::read_to_string(path).unwrap();
    syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Returns the crate's modules, and which module each name re-exported at the root comes from.
fn root() -> (Vec<String>, BTreeMap<String, String>) {
    let lib = parse(&src().join("lib.rs"));
    let mut modules = Vec::new();
    let mut reexports = BTreeMap::new();
    for item in &lib.items {
        match item {
            syn::Item::Mod(m) => modules.push(m.ident.to_string()),
            syn::Item::Use(u) => {
                let mut names = Vec::new();
                flatten(&u.tree, &mut Vec::new(), &mut names);
                for path in names {
                    if let [module, .., name] = path.as_slice() {
                        reexports.insert(name.clone(), module.clone());
                    }
                }
            }
            _ => {}
        }
    }
    (modules, reexports)
}

/// Collects every path a `use` tree names, as segments (a group names several).
fn flatten(tree: &syn::UseTree, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            flatten(&p.tree, prefix, out);
            prefix.pop();
        }
        syn::UseTree::Name(n) => out.push([prefix.clone(), vec![n.ident.to_string()]].concat()),
        syn::UseTree::Rename(r) => out.push([prefix.clone(), vec![r.ident.to_string()]].concat()),
        syn::UseTree::Glob(_) => out.push(prefix.clone()),
        syn::UseTree::Group(g) => {
            for tree in &g.items {
                flatten(tree, prefix, out);
            }
        }
    }
}

/// Collects the first segment after `crate` of every path in non-test code.
#[derive(Default)]
struct CrateRefs(BTreeSet<String>);

impl CrateRefs {
    fn first_after_crate(&mut self, segments: &[String]) {
        if let [first, next, ..] = segments
            && first == "crate"
        {
            self.0.insert(next.clone());
        }
    }
}

fn is_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.parse_args::<syn::Ident>()
                .is_ok_and(|ident| ident == "test")
    })
}

impl<'ast> Visit<'ast> for CrateRefs {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if !is_test(&m.attrs) {
            syn::visit::visit_item_mod(self, m);
        }
    }

    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        if !is_test(&f.attrs) {
            syn::visit::visit_item_fn(self, f);
        }
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        let mut paths = Vec::new();
        flatten(&u.tree, &mut Vec::new(), &mut paths);
        for path in paths {
            self.first_after_crate(&path);
        }
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        self.first_after_crate(&segments);
        syn::visit::visit_path(self, path);
    }
}

/// Returns the files of module `name`: `name.rs`, or `name/` with every file in it.
fn files_of(name: &str) -> Vec<PathBuf> {
    let file = src().join(format!("{name}.rs"));
    if file.exists() {
        return vec![file];
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(src().join(name))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .filter(|p| p.file_name().is_some_and(|n| n != "tests.rs"))
        .collect();
    files.sort();
    files
}

#[test]
fn each_model_module_uses_only_the_layers_below_it() {
    let (modules, reexports) = root();
    let order: Vec<&str> = LAYERS.iter().flat_map(|(_, m)| m.iter().copied()).collect();
    let placed: BTreeSet<&str> = order.iter().copied().collect();
    let declared: BTreeSet<&str> = modules.iter().map(String::as_str).collect();
    assert_eq!(
        placed, declared,
        "every module of lib.rs is placed in LAYERS, once"
    );
    assert_eq!(order.len(), placed.len(), "a module is placed twice");

    let mut violations = Vec::new();
    for (position, module) in order.iter().enumerate() {
        let mut refs = CrateRefs::default();
        for file in files_of(module) {
            refs.visit_file(&parse(&file));
        }
        for name in refs.0 {
            let used = if declared.contains(name.as_str()) {
                name.clone()
            } else if let Some(from) = reexports.get(&name) {
                from.clone()
            } else {
                continue;
            };
            if used == *module {
                continue;
            }
            let below = order[..position].contains(&used.as_str());
            if !below {
                violations.push(format!("{module} uses {used} (through crate::{name})"));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "a module uses one at or above its layer:\n{}",
        violations.join("\n")
    );
}
