//! A raw-floor worker: consumes jobs and, per hop, does exactly one Cassandra
//! single-row write, one Redis op and the produce of the successors it releases.
//! No engine, no JS, no transaction: the least a hop can cost on this stack.
//!
//! stdin: `dump <tag>` prints `hops <tag> [[t_us, hop_us], ...]` and forgets the tag;
//! end of input exits. stdout: `READY`, then `ASSIGNED <partitions>` on every change.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fred::prelude::*;
use fred::types::Expiration;
use rdkafka::consumer::Consumer;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use tokio::sync::Semaphore;

use crate::clients::{self, BoxError};
use crate::settings::{graphs, now_us, DoneMessage, FloorJob, Graph, Settings};

/// A join arrival in one round trip: the counter and its TTL together.
const ARRIVE: &str = "local n = redis.call('INCR', KEYS[1]) redis.call('EXPIRE', KEYS[1], ARGV[1]) return n";
const KEY_TTL_SECONDS: i64 = 3600;
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Per measurement tag: (when the hop's node ran, hop latency), both in µs.
type HopLog = Mutex<HashMap<String, Vec<(u64, u64)>>>;

pub struct Hop {
    pub settings: Settings,
    graphs: HashMap<String, Graph>,
    session: Arc<Session>,
    insert: PreparedStatement,
    redis: Client,
    arrive_sha: String,
    /// Transactional when `settings.transactional`: every send joins the open transaction.
    pub producer: FutureProducer,
    log: HopLog,
}

pub async fn run(settings: Settings) -> Result<(), BoxError> {
    let graphs = graphs(&settings)?;
    let session = clients::cassandra(&settings).await?;
    let insert = clients::prepare(
        &session,
        format!(
            "INSERT INTO {}.node_outputs (run_id, node_id, value) VALUES (?, ?, ?)",
            settings.keyspace
        ),
    )
    .await?;
    let redis = clients::redis(&settings).await?;
    let arrive_sha: String = redis.script_load(ARRIVE).await?;
    let producer = clients::producer(&settings, settings.transactional)?;
    let consumer = Arc::new(clients::group_consumer(&settings)?);
    let hop = Arc::new(Hop {
        graphs,
        session,
        insert,
        redis,
        arrive_sha,
        producer,
        log: Mutex::new(HashMap::new()),
        settings,
    });
    serve_dumps(hop.clone());
    report_assignment(consumer.clone());
    println!("READY");
    if hop.settings.transactional {
        return crate::txn_worker::consume(hop, consumer).await;
    }

    let slots = Arc::new(Semaphore::new(hop.settings.concurrency.max(1)));
    loop {
        let slot = slots.clone().acquire_owned().await?;
        let message = match consumer.recv().await {
            Ok(message) => message.detach(),
            Err(error) => {
                // Transient (broker hiccup, rebalance): librdkafka recovers; keep polling.
                eprintln!("consume: {error}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let hop = hop.clone();
        tokio::spawn(async move {
            if let Some(payload) = message.payload() {
                if let Err(error) = hop.handle(payload).await {
                    eprintln!("hop failed: {error}");
                }
            }
            drop(slot);
        });
    }
}

impl Hop {
    pub async fn handle(&self, payload: &[u8]) -> Result<(), BoxError> {
        let at = now_us();
        let job: FloorJob = serde_json::from_slice(payload)?;
        let node = self
            .graphs
            .get(&job.blueprint_id)
            .and_then(|graph| graph.nodes.get(&job.node_id))
            .ok_or_else(|| format!("unknown node {}/{}", job.blueprint_id, job.node_id))?;
        if node.predecessors > 0 {
            let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
            log.entry(job.tag.clone()).or_default().push((at, at.saturating_sub(job.pt)));
        }
        let n = job.n + 1;

        // 1. One Cassandra single-row write: the node's output.
        let value = format!("{{\"n\":{n},\"t\":{at}}}");
        self.session
            .execute_unpaged(&self.insert, (&job.run_id, &job.node_id, value))
            .await?;

        // 2. One Redis op: a join arrival, or the node's done marker.
        let released: Vec<&String> = match &node.join_successor {
            Some((join, expected)) => {
                let key = format!("bench_floor:fanin:{}:{join}", job.run_id);
                let count: i64 = self
                    .redis
                    .evalsha(&self.arrive_sha, vec![key], vec![KEY_TTL_SECONDS])
                    .await?;
                if count as usize == *expected {
                    vec![join]
                } else {
                    Vec::new()
                }
            }
            None => {
                let key = format!("bench_floor:done:{}:{}", job.run_id, job.node_id);
                self.redis
                    .set::<(), _, _>(key, "1", Some(Expiration::EX(KEY_TTL_SECONDS)), None, false)
                    .await?;
                node.successors.iter().collect()
            }
        };

        // 3. The successors it releases, one message each (or the run's completion).
        if node.successors.is_empty() {
            let done = DoneMessage {
                run_id: job.run_id.clone(),
                done_us: now_us(),
                n,
            };
            self.send(&self.settings.done_topic, &job.run_id, serde_json::to_string(&done)?)
                .await?;
            return Ok(());
        }
        let sends = released.into_iter().map(|next| {
            let successor = FloorJob {
                node_id: next.clone(),
                pt: at,
                n,
                ..job.clone()
            };
            let json = serde_json::to_string(&successor).unwrap_or_default();
            self.send(&self.settings.topic, &job.run_id, json)
        });
        for outcome in futures::future::join_all(sends).await {
            outcome?;
        }
        Ok(())
    }

    async fn send(&self, topic: &str, key: &str, json: String) -> Result<(), BoxError> {
        self.producer
            .send(FutureRecord::to(topic).key(key).payload(&json), SEND_TIMEOUT)
            .await
            .map_err(|(error, _)| error)?;
        Ok(())
    }
}

/// Answers `dump <tag>` on stdin; exits when stdin closes (the harness is done).
fn serve_dumps(hop: Arc<Hop>) {
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if let Some(tag) = line.strip_prefix("dump ") {
                let hops = hop
                    .log
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(tag)
                    .unwrap_or_default();
                let json = serde_json::to_string(&hops).unwrap_or_else(|_| "[]".into());
                println!("hops {tag} {json}");
            }
        }
        std::process::exit(0);
    });
}

/// Prints the assigned partitions whenever they change (the harness waits for a
/// settled group before it starts runs).
fn report_assignment(consumer: Arc<rdkafka::consumer::StreamConsumer>) {
    tokio::spawn(async move {
        let mut last = String::from("-");
        loop {
            let mut partitions: Vec<i32> = consumer
                .assignment()
                .map(|list| list.elements().iter().map(|e| e.partition()).collect())
                .unwrap_or_default();
            partitions.sort_unstable();
            let now = partitions.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
            if now != last {
                println!("ASSIGNED {now}");
                last = now;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
}
