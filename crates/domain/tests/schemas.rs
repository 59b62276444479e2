//! The checked-in JSON Schemas under `schemas/` are exactly what the Rust types generate.
//! Regenerate with `UPDATE_SCHEMAS=1 cargo test -p domain --test schemas`.

use std::collections::BTreeSet;
use std::path::PathBuf;

fn schemas_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas")
}

#[test]
fn checked_in_schemas_match_the_types() {
    let dir = schemas_dir();
    let generated = domain::schema::all();
    if std::env::var_os("UPDATE_SCHEMAS").is_some() {
        for file in &generated {
            let path = dir.join(&file.path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &file.contents).unwrap();
        }
    }
    let differing: Vec<&str> = generated
        .iter()
        .filter(|file| {
            std::fs::read_to_string(dir.join(&file.path))
                .ok()
                .as_deref()
                != Some(file.contents.as_str())
        })
        .map(|file| file.path.as_str())
        .collect();
    assert!(
        differing.is_empty(),
        "schemas differ from the Rust types: {differing:?}; run `UPDATE_SCHEMAS=1 cargo test -p domain --test schemas`"
    );
    let expected: BTreeSet<String> = generated.iter().map(|f| f.path.clone()).collect();
    for folder in ["events", "commands"] {
        for entry in std::fs::read_dir(dir.join(folder)).unwrap() {
            let name = format!("{folder}/{}", entry.unwrap().file_name().to_string_lossy());
            assert!(
                expected.contains(&name),
                "{name} is no longer generated; delete it"
            );
        }
    }
}
