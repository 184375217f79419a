//! Embeds every file under `schemas/` in the binary, so the contract travels with it.

use std::{env, fs, path::Path};

fn collect(dir: &Path, root: &Path, out: &mut Vec<String>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .expect("schemas/ is readable")
        .map(|e| e.expect("schemas/ entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            let rel = path.strip_prefix(root).expect("under schemas/");
            out.push(format!(
                "({:?}, include_str!({:?})),",
                rel.to_string_lossy(),
                path.canonicalize().expect("schema path")
            ));
        }
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../schemas")
        .canonicalize()
        .expect("schemas/ sits at the workspace root");
    println!("cargo:rerun-if-changed=../../schemas");
    let mut files = Vec::new();
    collect(&root, &root, &mut files);
    let code = format!(
        "/// Every file under `schemas/`, by path relative to that folder.\npub static FILES: &[(&str, &str)] = &[\n{}\n];\n",
        files.join("\n")
    );
    let out = Path::new(&env::var("OUT_DIR").expect("OUT_DIR")).join("schema_files.rs");
    fs::write(out, code).expect("write schema_files.rs");
}
