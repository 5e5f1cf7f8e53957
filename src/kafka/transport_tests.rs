//! Integration tests of the Kafka job transport against the local broker
//! (127.0.0.1:9092). No mocks, no skipping: without Kafka they fail.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

use super::transport_options::DeliveryMode;
use super::{KafkaJobTransport, KafkaOptions, KafkaTransportOptions};
use crate::engine::job::Job;
use crate::engine::traits::{Delivery, JobDisposition, JobTransport};
use crate::errors::CodedError;

const BROKER: &str = "127.0.0.1:9092";

fn kafka(client: &str) -> KafkaOptions {
    let mut options = KafkaOptions::new(vec![BROKER.into()], client).unwrap();
    options.connect_timeout = Duration::from_secs(5);
    options
}

fn options(tag: &str, partitions: i32) -> KafkaTransportOptions {
    let id = uuid::Uuid::new_v4().simple().to_string();
    KafkaTransportOptions {
        topic: format!("fc-test-{tag}-{id}"),
        group_id: format!("fc-test-{tag}-{id}"),
        error_topic: format!("fc-test-{tag}-errors-{id}"),
        partitions,
        close_grace: Duration::from_millis(500),
        ..Default::default()
    }
}

fn jobs(run: &str, nodes: impl IntoIterator<Item = String>) -> Vec<Job> {
    nodes.into_iter().map(|n| Job::new(run, "bp", &n)).collect()
}

fn names(batch: &[Delivery]) -> Vec<String> {
    batch.iter().map(|d| d.job.node_id.clone()).collect()
}

/// Receives until `count` jobs arrived (fails after `limit`).
async fn receive_n(transport: &KafkaJobTransport, count: usize, limit: Duration) -> Vec<Delivery> {
    let mut got = Vec::new();
    let deadline = Instant::now() + limit;
    while got.len() < count {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, transport.receive(count - got.len())).await {
            Ok(batch) => got.extend(batch.unwrap()),
            Err(_) => panic!(
                "only {} of {count} jobs within {limit:?}: {:?}",
                got.len(),
                names(&got)
            ),
        }
    }
    got
}

/// Asserts nothing arrives within `wait`.
async fn receive_nothing(transport: &KafkaJobTransport, wait: Duration) {
    if let Ok(batch) = tokio::time::timeout(wait, transport.receive(100)).await {
        panic!("expected nothing, got {:?}", names(&batch.unwrap()));
    }
}

/// Every message of `topic` from the beginning, as a fresh reader with the given
/// isolation sees it within `wait` (stops early at `expect`).
async fn read_topic(topic: &str, read_committed: bool, expect: usize, wait: Duration) -> Vec<OwnedMessage> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", BROKER)
        .set("group.id", format!("fc-reader-{}", uuid::Uuid::new_v4()))
        .set("enable.auto.commit", "false")
        .set(
            "isolation.level",
            if read_committed {
                "read_committed"
            } else {
                "read_uncommitted"
            },
        )
        .create()
        .unwrap();
    let consumer = Arc::new(consumer);
    let meta_client = consumer.clone();
    let topic_name = topic.to_string();
    let metadata = tokio::task::spawn_blocking(move || {
        meta_client.fetch_metadata(Some(&topic_name), Duration::from_secs(5))
    })
    .await
    .unwrap()
    .unwrap();
    let mut list = TopicPartitionList::new();
    for partition in metadata.topics()[0].partitions() {
        list.add_partition_offset(topic, partition.id(), Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&list).unwrap();
    let mut messages = Vec::new();
    let deadline = Instant::now() + wait;
    while messages.len() < expect {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, consumer.recv()).await {
            Ok(Ok(message)) => messages.push(message.detach()),
            Ok(Err(e)) => panic!("reader error: {e}"),
            Err(_) => break,
        }
    }
    messages
}

fn node_ids(messages: &[OwnedMessage]) -> BTreeSet<String> {
    messages
        .iter()
        .filter_map(|m| serde_json::from_slice::<Job>(m.payload()?).ok())
        .map(|j| j.node_id)
        .collect()
}

fn header(message: &OwnedMessage, name: &str) -> Option<String> {
    let headers = message.headers()?;
    headers
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

async fn raw_producer() -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", BROKER)
        .set("partitioner", "murmur2_random")
        .create()
        .unwrap()
}

async fn produce_raw(producer: &FutureProducer, topic: &str, key: &str, payload: &[u8]) {
    producer
        .send(
            FutureRecord::to(topic).key(key).payload(payload),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
}

async fn ack_all(transport: &KafkaJobTransport, deliveries: &[Delivery]) {
    for delivery in deliveries {
        transport
            .acknowledge(delivery.receipt, JobDisposition::Done)
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn enqueue_receive_acknowledge_round_trip() {
    let opts = options("roundtrip", 4);
    let transport = KafkaJobTransport::worker(kafka("rt"), opts.clone())
        .await
        .unwrap();
    transport
        .enqueue(jobs("run-1", ["a", "b", "c"].map(String::from)))
        .await
        .unwrap();
    // A reference-shaped payload (no jobId) from another producer is accepted too.
    let producer = raw_producer().await;
    produce_raw(
        &producer,
        &opts.topic,
        "run-2",
        br#"{"runId":"run-2","blueprintId":"bp","nodeId":"ref"}"#,
    )
    .await;
    let got = receive_n(&transport, 4, Duration::from_secs(20)).await;
    let mut nodes = names(&got);
    nodes.sort();
    assert_eq!(nodes, ["a", "b", "c", "ref"]);
    let reference = got.iter().find(|d| d.job.node_id == "ref").unwrap();
    assert!(!reference.job.job_id.is_empty());
    // A run's jobs keep their order (one partition per run).
    let run1: Vec<_> = got
        .iter()
        .filter(|d| d.job.run_id == "run-1")
        .map(|d| d.job.node_id.as_str())
        .collect();
    assert_eq!(run1, ["a", "b", "c"]);
    assert_eq!(transport.in_flight(), 4);
    ack_all(&transport, &got).await;
    assert_eq!(transport.in_flight(), 0);
    transport.close().await.unwrap();
    // Committed: the same group starts after them.
    let again = KafkaJobTransport::worker(kafka("rt2"), opts).await.unwrap();
    receive_nothing(&again, Duration::from_secs(3)).await;
    again.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn batches_respect_batch_max_n_and_batch_max_ms() {
    let mut opts = options("batches", 2);
    opts.batch_max_n = 10;
    opts.batch_max_ms = 200;
    let transport = Arc::new(KafkaJobTransport::worker(kafka("b"), opts.clone()).await.unwrap());
    transport
        .enqueue(jobs("run", (0..35).map(|i| format!("n{i}"))))
        .await
        .unwrap();
    let mut sizes = Vec::new();
    let mut total = Vec::new();
    while total.len() < 35 {
        let batch = tokio::time::timeout(Duration::from_secs(20), transport.receive(100))
            .await
            .expect("a batch")
            .unwrap();
        assert!(!batch.is_empty() && batch.len() <= 10, "batch of {}", batch.len());
        sizes.push(batch.len());
        total.extend(batch);
    }
    assert!(
        sizes.iter().filter(|s| **s == 10).count() >= 2,
        "batches {sizes:?}"
    );
    // The worker's free slots cap the batch too.
    transport
        .enqueue(jobs("run", (0..5).map(|i| format!("m{i}"))))
        .await
        .unwrap();
    let small = receive_n(&transport, 1, Duration::from_secs(10)).await;
    assert!(small.len() <= 3);
    let mut rest = small;
    while rest.len() < 5 {
        let batch = transport.receive(3).await.unwrap();
        assert!(batch.len() <= 3);
        rest.extend(batch);
    }
    // A trickle: once a batch has a job, receive returns within batch_max_ms.
    let producer = transport.clone();
    let trickle = tokio::spawn(async move {
        for i in 0..20 {
            producer.enqueue(jobs("slow", [format!("t{i}")])).await.unwrap();
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    });
    let mut trickled = 0;
    while trickled < 20 {
        // A job arrives every 25 ms: the call returns at most batch_max_ms after it.
        let called = Instant::now();
        let batch = transport.receive(10).await.unwrap();
        trickled += batch.len();
        assert!(
            called.elapsed() < Duration::from_millis(600),
            "{:?}",
            called.elapsed()
        );
        total.extend(batch);
    }
    trickle.await.unwrap();
    ack_all(&transport, &total).await;
    ack_all(&transport, &rest).await;
    transport.close().await.unwrap();
}

/// A 50-node chain through the engine: each hop is a transactional commit plus a
/// fetch, so this is the per-hop latency a sequential workflow sees.
async fn measure_engine_chain() {
    use crate::engine::{Engine, EngineConfig, StartOptions};
    use crate::memory::MemoryBackend;

    let transport = Arc::new(
        KafkaJobTransport::worker(kafka("chain"), options("chain", 8))
            .await
            .unwrap(),
    );
    let memory = MemoryBackend::new();
    let mut backends = memory.backends();
    backends.transport = transport.clone();
    let hops = 50;
    let nodes: Vec<_> = (0..hops)
        .map(|i| serde_json::json!({"id": format!("n{i}"), "uses": "emit", "params": {"value": i}}))
        .collect();
    let edges: Vec<_> = (1..hops)
        .map(|i| serde_json::json!({"source": format!("n{}", i - 1), "target": format!("n{i}")}))
        .collect();
    let blueprint = serde_json::json!({"id": "chain", "nodes": nodes, "edges": edges});
    let engine = Engine::new(
        vec![serde_json::from_value(blueprint).unwrap()],
        Arc::new(Nodes),
        backends,
        EngineConfig::default(),
    )
    .unwrap();
    engine.start().unwrap();
    let timeout = Some(Duration::from_secs(60));
    // Warm-up run (group join).
    engine
        .run("chain", Default::default(), StartOptions::default(), timeout)
        .await
        .unwrap();
    let started = Instant::now();
    engine
        .run("chain", Default::default(), StartOptions::default(), timeout)
        .await
        .unwrap();
    let elapsed = started.elapsed();
    println!(
        "engine chain of {hops} nodes: {elapsed:?} = {:?} per hop",
        elapsed / hops as u32
    );
    engine.stop().await;
    transport.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn offsets_never_pass_an_unfinished_job() {
    let mut opts = options("offsets", 1);
    opts.commit_interval_ms = 20;
    let first = KafkaJobTransport::worker(kafka("o1"), opts.clone())
        .await
        .unwrap();
    first
        .enqueue(jobs("run", (0..6).map(|i| format!("n{i}"))))
        .await
        .unwrap();
    let got = receive_n(&first, 6, Duration::from_secs(20)).await;
    assert_eq!(names(&got), ["n0", "n1", "n2", "n3", "n4", "n5"]);
    // Out of order; n3 never finishes.
    for i in [5, 1, 4, 0, 2] {
        first
            .acknowledge(got[i].receipt, JobDisposition::Done)
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    first.close().await.unwrap();
    let second = KafkaJobTransport::worker(kafka("o2"), opts.clone())
        .await
        .unwrap();
    let again = receive_n(&second, 3, Duration::from_secs(20)).await;
    // From the lowest unfinished offset on: n3, and the finished n4, n5 above it.
    assert_eq!(names(&again), ["n3", "n4", "n5"]);
    receive_nothing(&second, Duration::from_secs(2)).await;
    // Redeliver keeps the offset unfinished and hands the job out again.
    second
        .acknowledge(
            again[0].receipt,
            JobDisposition::Redeliver {
                reason: "db down".into(),
            },
        )
        .await
        .unwrap();
    ack_all(&second, &again[1..]).await;
    let retried = receive_n(&second, 1, Duration::from_secs(5)).await;
    assert_eq!(names(&retried), ["n3"]);
    assert_eq!(retried[0].job.job_id, again[0].job.job_id);
    ack_all(&second, &retried).await;
    second.close().await.unwrap();
    let third = KafkaJobTransport::worker(kafka("o3"), opts).await.unwrap();
    receive_nothing(&third, Duration::from_secs(3)).await;
    third.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn successors_are_visible_only_after_the_transaction_commits() {
    let mut opts = options("successors", 2);
    opts.delivery = DeliveryMode::Transactional;
    opts.commit_interval_ms = 60_000;
    let transport = KafkaJobTransport::worker(kafka("s"), opts.clone()).await.unwrap();
    transport
        .enqueue(jobs("run", ["parent".to_string()]))
        .await
        .unwrap();
    let parent = receive_n(&transport, 1, Duration::from_secs(20)).await.remove(0);
    transport
        .enqueue_from(
            parent.receipt,
            jobs("run", ["child1", "child2"].map(String::from)),
        )
        .await
        .unwrap();
    // Produced (a read_uncommitted reader sees them) but not committed.
    let dirty = read_topic(&opts.topic, false, 3, Duration::from_secs(10)).await;
    assert_eq!(
        node_ids(&dirty),
        ["child1", "child2", "parent"].map(String::from).into()
    );
    let committed = read_topic(&opts.topic, true, 3, Duration::from_secs(2)).await;
    assert_eq!(node_ids(&committed), ["parent".to_string()].into());
    receive_nothing(&transport, Duration::from_millis(500)).await;
    // Acknowledging the parent (nothing else in flight) commits at once.
    transport
        .acknowledge(parent.receipt, JobDisposition::Done)
        .await
        .unwrap();
    let after = read_topic(&opts.topic, true, 3, Duration::from_secs(10)).await;
    assert_eq!(
        node_ids(&after),
        ["child1", "child2", "parent"].map(String::from).into()
    );
    let children = receive_n(&transport, 2, Duration::from_secs(10)).await;
    let mut nodes = names(&children);
    nodes.sort();
    assert_eq!(nodes, ["child1", "child2"]);
    ack_all(&transport, &children).await;
    transport.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_mid_batch_redelivers_it_and_hides_its_successors() {
    let mut opts = options("crash", 1);
    opts.delivery = DeliveryMode::Transactional;
    opts.commit_interval_ms = 60_000;
    opts.transactional_id = Some(format!("fc-test-crash-{}", uuid::Uuid::new_v4().simple()));
    let first = KafkaJobTransport::worker(kafka("c1"), opts.clone())
        .await
        .unwrap();
    first
        .enqueue(jobs("run", ["j1", "j2"].map(String::from)))
        .await
        .unwrap();
    let batch = receive_n(&first, 2, Duration::from_secs(20)).await;
    first
        .enqueue_from(batch[0].receipt, jobs("run", ["s1".to_string()]))
        .await
        .unwrap();
    // j1 is finished, j2 is not: nothing may be committed past j2... and the
    // transaction holding s1 is never committed.
    first
        .acknowledge(batch[0].receipt, JobDisposition::Done)
        .await
        .unwrap();
    first.crash().await;
    let dirty = read_topic(&opts.topic, false, 3, Duration::from_secs(10)).await;
    assert!(node_ids(&dirty).contains("s1"), "s1 was produced");
    // Same worker identity: init_transactions fences and aborts the open transaction.
    let second = KafkaJobTransport::worker(kafka("c2"), opts.clone())
        .await
        .unwrap();
    let again = receive_n(&second, 2, Duration::from_secs(30)).await;
    assert_eq!(names(&again), ["j1", "j2"]);
    assert_eq!(again[0].job.job_id, batch[0].job.job_id);
    receive_nothing(&second, Duration::from_secs(2)).await;
    let committed = read_topic(&opts.topic, true, 3, Duration::from_secs(3)).await;
    assert_eq!(node_ids(&committed), ["j1", "j2"].map(String::from).into());
    ack_all(&second, &again).await;
    second.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn at_least_once_successors_are_on_the_topic_before_their_cause_is_committed() {
    let mut opts = options("alo", 1);
    opts.commit_interval_ms = 60_000;
    opts.transactional_id = Some(format!("fc-test-alo-{}", uuid::Uuid::new_v4().simple()));
    assert_eq!(opts.delivery, DeliveryMode::AtLeastOnce, "the default");
    let first = KafkaJobTransport::worker(kafka("a1"), opts.clone())
        .await
        .unwrap();
    first
        .enqueue(jobs("run", ["j1", "j2"].map(String::from)))
        .await
        .unwrap();
    let batch = receive_n(&first, 2, Duration::from_secs(20)).await;
    first
        .enqueue_from(batch[0].receipt, jobs("run", ["s1".to_string()]))
        .await
        .unwrap();
    // Acknowledged by the broker when enqueue_from returns: a committed reader sees it.
    let visible = read_topic(&opts.topic, true, 3, Duration::from_secs(10)).await;
    assert_eq!(node_ids(&visible), ["j1", "j2", "s1"].map(String::from).into());
    first
        .acknowledge(batch[0].receipt, JobDisposition::Done)
        .await
        .unwrap();
    // j2 is unfinished: nothing past it may be committed, so both come back.
    first.crash().await;
    let second = KafkaJobTransport::worker(kafka("a2"), opts.clone())
        .await
        .unwrap();
    let again = receive_n(&second, 3, Duration::from_secs(30)).await;
    assert_eq!(names(&again), ["j1", "j2", "s1"]);
    assert_eq!(again[0].job.job_id, batch[0].job.job_id);
    ack_all(&second, &again).await;
    second.close().await.unwrap();
    // Everything finished was committed on close: a new worker of the group gets nothing.
    let third = KafkaJobTransport::worker(kafka("a3"), opts.clone())
        .await
        .unwrap();
    receive_nothing(&third, Duration::from_secs(3)).await;
    third.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_messages_go_to_the_error_topic_and_the_worker_goes_on() {
    let mut opts = options("malformed", 1);
    opts.max_message_bytes = 1000;
    opts.commit_interval_ms = 20;
    let transport = KafkaJobTransport::worker(kafka("m"), opts.clone()).await.unwrap();
    let producer = raw_producer().await;
    let big = format!(
        r#"{{"runId":"r","blueprintId":"bp","nodeId":"big","pad":"{}"}}"#,
        "x".repeat(2000)
    );
    produce_raw(&producer, &opts.topic, "r", b"{not json").await;
    produce_raw(&producer, &opts.topic, "r", br#"{"runId":"r","nodeId":"a"}"#).await;
    produce_raw(&producer, &opts.topic, "r", big.as_bytes()).await;
    produce_raw(
        &producer,
        &opts.topic,
        "r",
        br#"{"runId":"r","blueprintId":"bp","nodeId":"good"}"#,
    )
    .await;
    produce_raw(
        &producer,
        &opts.topic,
        "r",
        br#"{"runId":"r","blueprintId":"nope","nodeId":"unknown-bp"}"#,
    )
    .await;
    let got = receive_n(&transport, 2, Duration::from_secs(20)).await;
    assert_eq!(names(&got), ["good", "unknown-bp"]);
    transport
        .acknowledge(got[0].receipt, JobDisposition::Done)
        .await
        .unwrap();
    transport
        .dead_letter(got[1].receipt, "Blueprint with ID 'nope' not found")
        .await
        .unwrap();
    let mut letters = read_topic(&opts.error_topic, true, 4, Duration::from_secs(10)).await;
    letters.sort_by_key(|m| {
        header(m, super::wire::HEADER_SOURCE)
            .unwrap()
            .rsplit('@')
            .next()
            .unwrap()
            .parse::<i64>()
            .unwrap()
    });
    assert_eq!(letters.len(), 4, "four dead letters");
    let reasons: Vec<String> = letters
        .iter()
        .map(|m| header(m, super::wire::HEADER_REASON).unwrap())
        .collect();
    assert!(reasons[0].starts_with("invalid JSON"), "{reasons:?}");
    assert!(reasons[1].contains("missing field `blueprintId`"), "{reasons:?}");
    assert!(
        reasons[2].contains("exceeds the limit of 1000 bytes"),
        "{reasons:?}"
    );
    assert!(reasons[3].contains("'nope' not found"), "{reasons:?}");
    assert_eq!(letters[0].payload(), Some(&b"{not json"[..]));
    assert_eq!(letters[2].payload(), Some(big.as_bytes()));
    assert_eq!(
        header(&letters[2], super::wire::HEADER_ORIGINAL_SIZE).unwrap(),
        big.len().to_string()
    );
    assert!(header(&letters[0], super::wire::HEADER_SOURCE)
        .unwrap()
        .ends_with("/0@0"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    transport.close().await.unwrap();
    // Every offset advanced: nothing comes back.
    let again = KafkaJobTransport::worker(kafka("m2"), opts).await.unwrap();
    receive_nothing(&again, Duration::from_secs(3)).await;
    again.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn two_workers_in_one_group_split_the_partitions() {
    let opts = options("split", 4);
    let one = KafkaJobTransport::worker(kafka("w1"), opts.clone())
        .await
        .unwrap();
    let two = KafkaJobTransport::worker(kafka("w2"), opts.clone())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // Keep both polling so the group settles.
        let (a, b) = (one.assigned_partitions(), two.assigned_partitions());
        if !a.is_empty() && !b.is_empty() && a.len() + b.len() == 4 {
            assert!(a.iter().all(|p| !b.contains(p)), "{a:?} {b:?}");
            break;
        }
        assert!(Instant::now() < deadline, "group did not settle: {a:?} {b:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let runs: Vec<Job> = (0..40)
        .map(|i| Job::new(&format!("run-{i}"), "bp", "a"))
        .collect();
    one.enqueue(runs).await.unwrap();
    let mut by_worker: HashMap<&str, Vec<String>> = HashMap::new();
    let mut total = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while total < 40 {
        assert!(Instant::now() < deadline, "only {total} of 40");
        for (name, worker) in [("one", &one), ("two", &two)] {
            if let Ok(batch) = tokio::time::timeout(Duration::from_millis(200), worker.receive(100)).await {
                let batch = batch.unwrap();
                total += batch.len();
                by_worker
                    .entry(name)
                    .or_default()
                    .extend(batch.iter().map(|d| d.job.run_id.clone()));
                ack_all(worker, &batch).await;
            }
        }
    }
    let a: BTreeSet<_> = by_worker["one"].iter().cloned().collect();
    let b: BTreeSet<_> = by_worker["two"].iter().cloned().collect();
    assert!(!a.is_empty() && !b.is_empty());
    assert!(a.is_disjoint(&b));
    assert_eq!(a.len() + b.len(), 40);
    one.close().await.unwrap();
    two.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_buffer_pauses_fetching_and_resumes_without_loss() {
    let mut opts = options("pause", 2);
    opts.max_buffered = 5;
    let transport = KafkaJobTransport::worker(kafka("pause"), opts).await.unwrap();
    transport
        .enqueue(jobs("run", (0..40).map(|i| format!("n{i}"))))
        .await
        .unwrap();
    // Nobody receives for a while: the buffer fills, the partitions get paused.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(transport.worker_side().unwrap().lock().paused);
    let got = receive_n(&transport, 40, Duration::from_secs(20)).await;
    let unique: BTreeSet<_> = names(&got).into_iter().collect();
    assert_eq!(unique.len(), 40);
    assert!(!transport.worker_side().unwrap().lock().paused);
    ack_all(&transport, &got).await;
    receive_nothing(&transport, Duration::from_secs(1)).await;
    transport.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rebalance_commits_finished_work_before_partitions_move() {
    let mut opts = options("rebalance", 2);
    opts.commit_interval_ms = 60_000;
    opts.revoke_grace = Duration::from_millis(200);
    let one = KafkaJobTransport::worker(kafka("r1"), opts.clone())
        .await
        .unwrap();
    // Runs spread over both partitions.
    let runs: Vec<Job> = (0..20)
        .map(|i| Job::new(&format!("run-{i}"), "bp", "a"))
        .collect();
    one.enqueue(runs).await.unwrap();
    let got = receive_n(&one, 20, Duration::from_secs(20)).await;
    // Finish all but one job per partition (no commit yet: the interval is long and
    // jobs are still in flight).
    let mut unfinished: HashMap<i32, String> = HashMap::new();
    {
        let worker = one.worker_side().unwrap();
        let state = worker.lock();
        for delivery in &got {
            let partition = state.ledger.entry(delivery.receipt).unwrap().partition;
            // The last one of each partition (deliveries come in offset order).
            unfinished.insert(partition, delivery.job.run_id.clone());
        }
    }
    for delivery in &got {
        if !unfinished.values().any(|r| *r == delivery.job.run_id) {
            one.acknowledge(delivery.receipt, JobDisposition::Done)
                .await
                .unwrap();
        }
    }
    // A second worker joins: one partition moves; its finished jobs were committed on
    // revoke, so only its unfinished one is delivered to the newcomer.
    let two = KafkaJobTransport::worker(kafka("r2"), opts.clone())
        .await
        .unwrap();
    let moved = receive_n(&two, 1, Duration::from_secs(30)).await;
    assert!(
        unfinished.values().any(|r| *r == moved[0].job.run_id),
        "{:?}",
        moved[0].job
    );
    receive_nothing(&two, Duration::from_secs(2)).await;
    assert_eq!(two.assigned_partitions().len(), 1);
    ack_all(&two, &moved).await;
    // The late acknowledgement of the moved job on the old owner is ignored.
    ack_all(&one, &got).await;
    two.close().await.unwrap();
    one.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_transaction_is_aborted_and_its_jobs_come_back() {
    let mut opts = options("abort", 1);
    opts.delivery = DeliveryMode::Transactional;
    opts.commit_interval_ms = 20;
    // The broker rejects messages over 300 bytes on the jobs topic.
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", BROKER)
        .create()
        .unwrap();
    let topic = NewTopic::new(&opts.topic, 1, TopicReplication::Fixed(1)).set("max.message.bytes", "300");
    admin.create_topics([&topic], &AdminOptions::new()).await.unwrap()[0]
        .as_ref()
        .unwrap();
    let transport = KafkaJobTransport::worker(kafka("abort"), opts.clone())
        .await
        .unwrap();
    transport
        .enqueue(jobs("run", ["parent".to_string()]))
        .await
        .unwrap();
    let parent = receive_n(&transport, 1, Duration::from_secs(20)).await.remove(0);
    let too_big = jobs("run", ["x".repeat(1000)]);
    assert!(transport.enqueue_from(parent.receipt, too_big).await.is_err());
    // A careless handler acknowledges anyway: the commit fails, is aborted, and the
    // parent comes back instead of being committed without its successor.
    transport
        .acknowledge(parent.receipt, JobDisposition::Done)
        .await
        .unwrap();
    let again = receive_n(&transport, 1, Duration::from_secs(20)).await;
    assert_eq!(names(&again), ["parent"]);
    assert_eq!(again[0].job.job_id, parent.job.job_id);
    // The transport goes on with a fresh producer: the next transaction commits.
    let mut current = again.into_iter().next().unwrap();
    let mut tries = 0;
    while let Err(e) = transport
        .enqueue_from(current.receipt, jobs("run", ["child".to_string()]))
        .await
    {
        tries += 1;
        assert!(tries < 1, "{e}");
        transport
            .acknowledge(
                current.receipt,
                JobDisposition::Redeliver {
                    reason: e.to_string(),
                },
            )
            .await
            .unwrap();
        current = receive_n(&transport, 1, Duration::from_secs(20)).await.remove(0);
    }
    transport
        .acknowledge(current.receipt, JobDisposition::Done)
        .await
        .unwrap();
    let child = receive_n(&transport, 1, Duration::from_secs(20)).await;
    assert_eq!(names(&child), ["child"]);
    ack_all(&transport, &child).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    transport.close().await.unwrap();
    let committed = read_topic(&opts.topic, true, 3, Duration::from_secs(3)).await;
    let nodes: Vec<String> = committed
        .iter()
        .filter_map(|m| serde_json::from_slice::<Job>(m.payload()?).ok())
        .map(|j| j.node_id)
        .collect();
    assert_eq!(nodes, ["parent", "child"]);
    let restarted = KafkaJobTransport::worker(kafka("abort2"), opts).await.unwrap();
    receive_nothing(&restarted, Duration::from_secs(2)).await;
    restarted.close().await.unwrap();
}

/// `emit` returns `params.value`; `sum` adds the numbers of its input object.
struct Nodes;
impl crate::engine::NodeInvoker for Nodes {
    fn has(&self, uses: &str) -> bool {
        matches!(uses, "emit" | "sum")
    }
    fn invoke(
        &self,
        call: crate::engine::NodeCall,
    ) -> crate::engine::BoxFuture<'static, Result<crate::engine::NodeReturn, crate::engine::NodeFailure>>
    {
        Box::pin(async move {
            let output = match call.uses.as_str() {
                "emit" => call.params.get("value").cloned(),
                _ => {
                    let total: f64 = call
                        .input
                        .as_ref()
                        .and_then(|v| v.as_object())
                        .map(|o| o.values().filter_map(|v| v.as_f64()).sum())
                        .unwrap_or_default();
                    Some(serde_json::json!(total))
                }
            };
            Ok(crate::engine::NodeReturn {
                output,
                ..Default::default()
            })
        })
    }
}

/// The engine's worker loop on this transport (memory stores for the rest): a fan-out
/// and join over Kafka, with the successors going through transactions.
#[tokio::test(flavor = "multi_thread")]
async fn the_engine_runs_workflows_over_kafka() {
    use crate::engine::{Engine, EngineConfig, StartOptions};
    use crate::memory::MemoryBackend;

    let opts = options("engine", 4);
    let transport = Arc::new(KafkaJobTransport::worker(kafka("engine"), opts).await.unwrap());
    let memory = MemoryBackend::new();
    let mut backends = memory.backends();
    backends.transport = transport.clone();
    let blueprint = serde_json::json!({
        "id": "j",
        "nodes": [
            {"id": "a", "uses": "emit", "params": {"value": 1}},
            {"id": "b", "uses": "emit", "params": {"value": 2}},
            {"id": "join", "uses": "sum", "inputs": {"a": "a", "b": "b"}}
        ],
        "edges": [{"source": "a", "target": "join"}, {"source": "b", "target": "join"}]
    });
    let engine = Engine::new(
        vec![serde_json::from_value(blueprint).unwrap()],
        Arc::new(Nodes),
        backends,
        EngineConfig::default(),
    )
    .unwrap();
    engine.start().unwrap();
    let started = Instant::now();
    let runs = 20;
    let mut ids = Vec::new();
    for _ in 0..runs {
        ids.push(
            engine
                .start_run("j", Default::default(), StartOptions::default())
                .await
                .unwrap(),
        );
    }
    for run_id in &ids {
        let result = engine
            .wait_for_run(run_id, Some(Duration::from_secs(30)))
            .await
            .unwrap();
        assert_eq!(format!("{:?}", result.status), "Completed", "{result:?}");
        let joined = result.context.get("_outputs.join").and_then(|v| v.as_f64());
        assert_eq!(joined, Some(3.0), "{result:?}");
    }
    println!("{runs} fan-out/join runs over Kafka in {:?}", started.elapsed());
    engine.stop().await;
    transport.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn producer_only_enqueues_without_consuming() {
    let opts = options("producer", 2);
    let client = KafkaJobTransport::producer_only(kafka("p"), opts.clone())
        .await
        .unwrap();
    client.enqueue(jobs("run", ["start".to_string()])).await.unwrap();
    assert!(client.receive(1).await.is_err());
    client.close().await.unwrap();
    assert!(client.enqueue(jobs("run", ["late".to_string()])).await.is_err());
    let worker = KafkaJobTransport::worker(kafka("pw"), opts).await.unwrap();
    let got = receive_n(&worker, 1, Duration::from_secs(20)).await;
    assert_eq!(names(&got), ["start"]);
    ack_all(&worker, &got).await;
    worker.close().await.unwrap();
    // Closed: receive ends with an empty batch (the worker loop's stop signal).
    assert!(worker.receive(1).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_broker_fails_fast_with_a_code() {
    let mut options = KafkaOptions::new(vec!["127.0.0.1:1".into()], "u").unwrap();
    options.connect_timeout = Duration::from_secs(1);
    let started = Instant::now();
    let Err(error) = KafkaJobTransport::worker(options, KafkaTransportOptions::default()).await else {
        panic!("connected to nothing");
    };
    assert_eq!(error.code(), "ERR_KAFKA_UNREACHABLE");
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// Figures for the report: `cargo test ... kafka::transport_tests::measure -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread")]
#[ignore]
async fn measure() {
    let mut opts = options("measure", 8);
    opts.batch_max_n = 64;
    if let Ok(n) = std::env::var("FC_MAX_BUFFERED") {
        opts.max_buffered = n.parse().unwrap();
    }
    let transport = KafkaJobTransport::worker(kafka("bench"), opts.clone())
        .await
        .unwrap();
    // Warm up (group join).
    transport.enqueue(jobs("warm", ["w".to_string()])).await.unwrap();
    let warm = receive_n(&transport, 1, Duration::from_secs(20)).await;
    ack_all(&transport, &warm).await;
    // Latency: enqueue (durable) -> receive, one at a time.
    let mut latencies = Vec::new();
    for i in 0..200 {
        let started = Instant::now();
        transport.enqueue(jobs("lat", [format!("l{i}")])).await.unwrap();
        let got = receive_n(&transport, 1, Duration::from_secs(10)).await;
        latencies.push(started.elapsed());
        ack_all(&transport, &got).await;
    }
    latencies.sort();
    println!(
        "enqueue->receive latency: p50 {:?}, p99 {:?}",
        latencies[latencies.len() / 2],
        latencies[latencies.len() * 99 / 100]
    );
    // Throughput: a chain workload, each handled job produces one successor in the
    // transaction (enqueue_from) and is acknowledged; 256 chains in flight.
    let chains = 256;
    let hops = 20;
    transport
        .enqueue(
            (0..chains)
                .map(|c| Job::new(&format!("chain-{c}"), "bp", "0"))
                .collect(),
        )
        .await
        .unwrap();
    let started = Instant::now();
    let mut handled = 0;
    let target = chains * hops;
    let transport = Arc::new(transport);
    let mut tasks = tokio::task::JoinSet::new();
    while handled < target {
        let batch = transport.receive(64).await.unwrap();
        handled += batch.len();
        for delivery in batch {
            let transport = transport.clone();
            tasks.spawn(async move {
                let hop: usize = delivery.job.node_id.parse().unwrap();
                if hop + 1 < hops {
                    let next = Job::new(&delivery.job.run_id, "bp", &(hop + 1).to_string());
                    transport
                        .enqueue_from(delivery.receipt, vec![next])
                        .await
                        .unwrap();
                }
                transport
                    .acknowledge(delivery.receipt, JobDisposition::Done)
                    .await
                    .unwrap();
            });
        }
        while tasks.try_join_next().is_some() {}
    }
    let elapsed = started.elapsed();
    println!(
        "transactional hops: {handled} in {elapsed:?} = {:.0} jobs/s",
        handled as f64 / elapsed.as_secs_f64()
    );
    // Throughput without successors: enqueue N, receive+ack N.
    let n = 20_000;
    let started = Instant::now();
    transport
        .enqueue(
            (0..n)
                .map(|i| Job::new(&format!("bulk-{}", i % 500), "bp", "x"))
                .collect(),
        )
        .await
        .unwrap();
    let produced = started.elapsed();
    let mut got = 0;
    while got < n {
        let batch = transport.receive(64).await.unwrap();
        got += batch.len();
        ack_all(&transport, &batch).await;
    }
    let elapsed = started.elapsed();
    println!(
        "bulk: {n} enqueued in {produced:?}, all received+acked in {elapsed:?} = {:.0} jobs/s",
        n as f64 / elapsed.as_secs_f64()
    );
    transport.close().await.unwrap();
    measure_engine_chain().await;
}
