//! The raw floor's client: starts runs when the harness says so and reports each
//! run's completion, as the addon's `startRun` / `waitForRun` do for the addon.
//!
//! stdin: `start <tag> <workloadId> <runId>`. stdout: `READY`, then
//! `done <runId> <startUs> <doneUs> <n>` per completed run.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::Consumer;
use rdkafka::message::Message;
use rdkafka::producer::FutureRecord;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::mpsc;

use crate::clients::{self, BoxError};
use crate::settings::{graphs, now_us, DoneMessage, FloorJob, Settings};

pub async fn run(settings: Settings) -> Result<(), BoxError> {
    let graphs = graphs(&settings)?;
    let session = clients::cassandra(&settings).await?;
    clients::ensure_schema(&session, &settings.keyspace).await?;
    drop(session);
    let producer = clients::producer(&settings, false)?;
    let completions = Arc::new(clients::plain_consumer(&settings)?);
    listen_from_now(&completions, &settings.done_topic).await?;

    let started: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
    {
        let (completions, started) = (completions.clone(), started.clone());
        tokio::spawn(async move {
            loop {
                let message = match completions.recv().await {
                    Ok(message) => message,
                    Err(error) => {
                        eprintln!("completions: {error}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Some(Ok(done)) = message.payload().map(serde_json::from_slice::<DoneMessage>) else {
                    continue;
                };
                let start = started
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&done.run_id);
                if let Some(start) = start {
                    println!("done {} {start} {} {}", done.run_id, done.done_us, done.n);
                }
            }
        });
    }
    println!("READY");

    let mut commands = stdin_lines();
    while let Some(line) = commands.recv().await {
        let words: Vec<&str> = line.split_whitespace().collect();
        let ["start", tag, workload, run_id] = words[..] else { continue };
        let Some(graph) = graphs.get(workload) else {
            eprintln!("unknown workload {workload}");
            continue;
        };
        let at = now_us();
        started
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(run_id.to_string(), at);
        let jobs: Vec<String> = graph
            .start_nodes
            .iter()
            .map(|node| {
                serde_json::to_string(&FloorJob {
                    run_id: run_id.to_string(),
                    blueprint_id: workload.to_string(),
                    node_id: node.clone(),
                    tag: tag.to_string(),
                    pt: at,
                    n: 0,
                })
                .unwrap_or_default()
            })
            .collect();
        let (producer, topic, key) = (producer.clone(), settings.topic.clone(), run_id.to_string());
        tokio::spawn(async move {
            for json in jobs {
                let record = FutureRecord::to(&topic).key(&key).payload(&json);
                if let Err((error, _)) = producer.send(record, Duration::from_secs(10)).await {
                    eprintln!("start of {key} failed: {error}");
                }
            }
        });
    }
    Ok(())
}

/// Reads the completion topic (one partition) from its current end.
async fn listen_from_now(consumer: &Arc<rdkafka::consumer::StreamConsumer>, topic: &str) -> Result<(), BoxError> {
    let (consumer, name) = (consumer.clone(), topic.to_string());
    tokio::task::spawn_blocking(move || -> Result<(), BoxError> {
        let (_, high) = consumer.fetch_watermarks(&name, 0, Duration::from_secs(10))?;
        let mut list = TopicPartitionList::new();
        list.add_partition_offset(&name, 0, Offset::Offset(high))?;
        consumer.assign(&list)?;
        Ok(())
    })
    .await?
}

/// stdin lines on a channel (a plain thread: the addon's tokio features have no io-std).
fn stdin_lines() -> mpsc::UnboundedReceiver<String> {
    let (sender, receiver) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}
