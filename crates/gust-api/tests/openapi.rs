//! The OpenAPI document, checked without a server: its whole text against a reviewed snapshot,
//! its structure against what generators and schema-driven testers rely on, and the client a
//! generator makes from it.

use std::collections::{BTreeMap, BTreeSet};

use gust_test_tools::PythonVenv;
use serde_json::Value;

fn document() -> Value {
    serde_json::to_value(gust_api::openapi_document()).unwrap()
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Every operation as (path, method, operation object).
fn operations(doc: &Value) -> Vec<(String, &'static str, &Value)> {
    let mut operations = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                operations.push((path.clone(), method, operation));
            }
        }
    }
    operations
}

fn operation_ids(doc: &Value) -> Vec<String> {
    operations(doc)
        .into_iter()
        .map(|(path, method, op)| {
            op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"))
                .to_string()
        })
        .collect()
}

#[test]
fn the_document_matches_its_snapshot() {
    let mut doc = document();
    // The crate version is not part of the API; leaving it out spares a release the churn.
    doc["info"]["version"] = Value::from("(crate version)");
    insta::assert_json_snapshot!("openapi", doc);
}

fn collect_refs<'a>(value: &'a Value, refs: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("$ref", Value::String(target)) => refs.push(target),
                    _ => collect_refs(value, refs),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_refs(item, refs)),
        _ => {}
    }
}

#[test]
fn every_ref_resolves_to_a_component() {
    let doc = document();
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    let dangling: BTreeSet<&str> = refs
        .into_iter()
        .filter(|target| {
            let Some(pointer) = target.strip_prefix('#') else {
                return true;
            };
            !pointer.starts_with("/components/") || doc.pointer(pointer).is_none()
        })
        .collect();
    assert!(dangling.is_empty(), "refs to nothing: {dangling:?}");
}

#[test]
fn every_operation_has_a_unique_operation_id() {
    let doc = document();
    let mut seen = BTreeMap::<String, usize>::new();
    for id in operation_ids(&doc) {
        *seen.entry(id).or_default() += 1;
    }
    let repeated: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(repeated.is_empty(), "operationIds used twice: {repeated:?}");
}

#[test]
fn every_path_parameter_is_declared_and_required() {
    let doc = document();
    for (path, method, operation) in operations(&doc) {
        let in_template: BTreeSet<&str> = path
            .split('/')
            .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        let shared = doc["paths"][&path]["parameters"].as_array();
        let own = operation["parameters"].as_array();
        let declared: BTreeSet<&str> = shared
            .into_iter()
            .chain(own)
            .flatten()
            .filter(|p| p["in"] == "path")
            .map(|p| {
                assert_eq!(p["required"], true, "{method} {path}: {p} must be required");
                p["name"].as_str().unwrap()
            })
            .collect();
        assert_eq!(in_template, declared, "{method} {path}");
    }
}

#[test]
fn the_document_parses_as_openapi_3_1() {
    let text = serde_json::to_string(&document()).unwrap();
    let spec = oas3::from_json(&text).expect("not an OpenAPI 3.1 document");
    let version = spec.validate_version().unwrap();
    assert_eq!((version.major, version.minor), (3, 1));
    assert_eq!(spec.operations().count(), operations(&document()).len());
}

/// Pinned: a newer generator may keep or skip different operations.
const PYTHON_CLIENT_GENERATOR: &str = "openapi-python-client==0.29.1";

#[test]
fn a_generated_python_client_has_every_operation() {
    let venv = PythonVenv::with(&[PYTHON_CLIENT_GENERATOR]);
    let work = tempfile::tempdir().unwrap();
    let doc_path = work.path().join("openapi.json");
    std::fs::write(&doc_path, serde_json::to_vec(&document()).unwrap()).unwrap();
    // No formatter run afterwards: only which modules exist matters here. Packages come typed
    // by their format; to the generator they are bytes.
    let config = work.path().join("config.json");
    std::fs::write(
        &config,
        r#"{"post_hooks": [], "content_type_overrides": {
            "application/wasm": "application/octet-stream",
            "application/gzip": "application/octet-stream",
            "application/zip": "application/octet-stream"}}"#,
    )
    .unwrap();
    let out = work.path().join("client");
    let output = venv
        .command("openapi-python-client")
        .arg("generate")
        .arg("--path")
        .arg(&doc_path)
        .arg("--config")
        .arg(&config)
        .arg("--output-path")
        .arg(&out)
        .args(["--meta", "none"])
        .output()
        .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "the generator failed:\n{report}");

    let mut modules = BTreeSet::new();
    collect_module_names(&out.join("api"), &mut modules);
    let missing: Vec<String> = operation_ids(&document())
        .into_iter()
        .filter(|id| !modules.contains(id))
        .collect();
    assert!(
        missing.is_empty(),
        "the client lacks {missing:?}; the generator said:\n{report}"
    );
    assert!(
        !report.to_lowercase().contains("warning"),
        "the generator warned:\n{report}"
    );
}

fn collect_module_names(dir: &std::path::Path, names: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_module_names(&path, names);
        } else if let Some(stem) = path
            .file_stem()
            .filter(|_| path.extension() == Some("py".as_ref()))
        {
            names.insert(stem.to_string_lossy().into_owned());
        }
    }
}
