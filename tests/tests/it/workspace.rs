//! The workspace's own build settings, checked against the code they describe.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn rust_files(dir: &Path, into: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a source directory") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, into);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            into.push(path);
        }
    }
}

/// What marks a unit test, or code kept for one.
const TEST_MARKS: &[&str] = &[
    "cfg(test)",
    "cfg(all(test",
    "#[test]",
    "::test]",
    "::test(",
    "proptest!",
];

/// Whether a source file holds a unit test. A line of a `macro_rules!` body (it names a `$`
/// metavariable) defines tests only where the macro is used, as `idv_e2e::both_stores!` does.
fn holds_a_unit_test(text: &str) -> bool {
    text.lines()
        .filter(|line| !line.contains('$'))
        .any(|line| TEST_MARKS.iter().any(|mark| line.contains(mark)))
}

/// A target whose unit tests are switched off (`test = false`, which keeps an empty test binary
/// out of every test build) must hold no unit tests: `cargo test` would skip them without a word.
#[test]
fn no_unit_test_sits_in_a_target_whose_tests_are_switched_off() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("cargo metadata's JSON");

    let mut switched_off = 0;
    let mut offenders = Vec::new();
    for package in metadata["packages"].as_array().expect("packages") {
        let manifest = Path::new(package["manifest_path"].as_str().expect("manifest_path"));
        let package_src = manifest.parent().expect("a package directory").join("src");
        let targets = package["targets"].as_array().expect("targets");
        let bin_sources: Vec<&str> = targets
            .iter()
            .filter(|t| {
                t["kind"]
                    .as_array()
                    .is_some_and(|k| k.iter().any(|k| k == "bin"))
            })
            .filter_map(|t| t["src_path"].as_str())
            .collect();
        for target in targets {
            if target["test"] != Value::Bool(false) {
                continue;
            }
            let kinds = target["kind"].as_array().expect("kinds");
            let source = Path::new(target["src_path"].as_str().expect("src_path"));
            // A library's modules are every file beside its root but the binaries' roots.
            let files = if kinds.iter().any(|k| k == "lib") {
                let mut files = Vec::new();
                rust_files(source.parent().expect("a source directory"), &mut files);
                files.retain(|f| !bin_sources.iter().any(|b| Path::new(b) == f));
                files
            } else if kinds.iter().any(|k| k == "bin") {
                // A binary whose root is a main.rs in a directory of its own has its modules
                // there (idv-admin's src/admin/); one beside the library is a single file.
                let directory = source.parent().expect("a source directory");
                if source.ends_with("main.rs") && directory != package_src {
                    let mut files = Vec::new();
                    rust_files(directory, &mut files);
                    files
                } else {
                    vec![source.to_path_buf()]
                }
            } else {
                continue;
            };
            switched_off += 1;
            for file in files {
                let text = std::fs::read_to_string(&file).expect("a source file");
                if holds_a_unit_test(&text) {
                    offenders.push(format!("{} ({})", file.display(), target["name"]));
                }
            }
        }
    }
    assert!(
        switched_off > 0,
        "the check found no target with test = false"
    );
    assert!(
        offenders.is_empty(),
        "unit tests in targets with test = false, which cargo test would never run: {offenders:#?}"
    );
}
