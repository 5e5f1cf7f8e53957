//! raw-floor: the benchmark's lower bound (see bench/README.md).
//!
//!   raw-floor worker <settings.json>   consume and run hops until stdin closes
//!   raw-floor drive  <settings.json>   start runs on command, report completions

mod clients;
mod driver;
mod settings;
mod txn_worker;
mod worker;

use settings::Settings;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(role), Some(path)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: raw-floor worker|drive <settings.json>");
        std::process::exit(2);
    };
    let settings: Settings = match std::fs::read(path)
        .map_err(|e| e.to_string())
        .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string()))
    {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("raw-floor: cannot read {path}: {error}");
            std::process::exit(2);
        }
    };
    let outcome = match role.as_str() {
        "worker" => worker::run(settings).await,
        "drive" => driver::run(settings).await,
        other => Err(format!("unknown role {other}").into()),
    };
    if let Err(error) = outcome {
        eprintln!("raw-floor {role} failed: {error}");
        std::process::exit(1);
    }
    std::process::exit(0);
}
