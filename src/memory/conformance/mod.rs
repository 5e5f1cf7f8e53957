//! The conformance suite of `shared/conformance` run against the engine on
//! memory backends, exactly as its README's "Running a case in a conforming
//! engine" says: concurrency 1, FIFO, real time, one resume on awaiting.

mod compare;
pub(crate) mod registry;
mod runner;

use std::path::PathBuf;

/// `../shared/conformance/cases` beside the crate; overridable with
/// `FLOWCRAFT_CONFORMANCE_DIR` (for builds outside the repository).
fn cases_dir() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Ok(dir) = std::env::var("FLOWCRAFT_CONFORMANCE_DIR") {
        candidates.push(PathBuf::from(dir));
    }
    candidates.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/cases"));
    candidates.push(PathBuf::from("/work/shared/conformance/cases"));
    candidates.into_iter().find(|p| p.is_dir())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_cases() {
    let Some(dir) = cases_dir() else {
        panic!("conformance cases not found: set FLOWCRAFT_CONFORMANCE_DIR");
    };
    let only = std::env::var("CONFORMANCE_ONLY").ok();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read cases dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    let (mut passed, mut failed) = (0, Vec::new());
    for path in paths {
        let case: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read case")).expect("case JSON");
        let name = case["name"].as_str().unwrap_or("?").to_string();
        if only.as_deref().is_some_and(|o| !o.split(',').any(|n| n == name)) {
            continue;
        }
        let differences = runner::run_case(&case).await;
        if differences.is_empty() {
            passed += 1;
        } else {
            println!("FAIL {name}");
            for d in &differences {
                println!("    {d}");
            }
            failed.push(name);
        }
    }
    println!("{passed} passed, {} failed", failed.len());
    assert!(failed.is_empty(), "failing cases: {failed:?}");
}
