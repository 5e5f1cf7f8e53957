//! What the harness (bench/run.js) hands every raw-floor process: where the services
//! are, its own topic / group / keyspace names, and the workload graphs.

use std::collections::HashMap;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    pub brokers: Vec<String>,
    pub client_id: String,
    pub topic: String,
    pub done_topic: String,
    pub group_id: String,
    pub contact_points: Vec<String>,
    pub local_data_center: String,
    pub keyspace: String,
    pub redis_url: String,
    /// Hops in flight per worker (the addon's `concurrency`).
    pub concurrency: usize,
    /// Successors and offsets committed in Kafka transactions (see txn_worker).
    #[serde(default)]
    pub transactional: bool,
    pub workloads: Vec<WorkloadSpec>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WorkloadSpec {
    pub id: String,
    pub nodes: Vec<String>,
    pub edges: Vec<(String, String)>,
}

/// One node of a workload, with what a hop needs to route.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub successors: Vec<String>,
    pub predecessors: usize,
    /// The successor is a join (more than one predecessor): arrivals count in Redis.
    /// Our workloads never mix a join with other successors.
    pub join_successor: Option<(String, usize)>,
}

#[derive(Debug, Clone)]
pub struct Graph {
    pub start_nodes: Vec<String>,
    pub nodes: HashMap<String, NodeInfo>,
}

impl Graph {
    pub fn from_spec(spec: &WorkloadSpec) -> Result<Self, String> {
        let mut successors: HashMap<&str, Vec<String>> = HashMap::new();
        let mut predecessors: HashMap<&str, usize> = HashMap::new();
        for (source, target) in &spec.edges {
            for end in [source, target] {
                if !spec.nodes.contains(end) {
                    return Err(format!("workload {}: edge names unknown node {end}", spec.id));
                }
            }
            successors.entry(source).or_default().push(target.clone());
            *predecessors.entry(target).or_default() += 1;
        }
        let mut nodes = HashMap::new();
        for id in &spec.nodes {
            let next = successors.remove(id.as_str()).unwrap_or_default();
            let join_successor = next
                .iter()
                .map(|s| (s.clone(), predecessors.get(s.as_str()).copied().unwrap_or(0)))
                .find(|(_, count)| *count > 1);
            if join_successor.is_some() && next.len() > 1 {
                return Err(format!("workload {}: {id} mixes a join with other successors", spec.id));
            }
            nodes.insert(
                id.clone(),
                NodeInfo {
                    successors: next,
                    predecessors: predecessors.get(id.as_str()).copied().unwrap_or(0),
                    join_successor,
                },
            );
        }
        let start_nodes = spec
            .nodes
            .iter()
            .filter(|id| nodes[*id].predecessors == 0)
            .cloned()
            .collect();
        Ok(Graph { start_nodes, nodes })
    }
}

pub fn graphs(settings: &Settings) -> Result<HashMap<String, Graph>, String> {
    settings
        .workloads
        .iter()
        .map(|spec| Ok((spec.id.clone(), Graph::from_spec(spec)?)))
        .collect()
}

/// A job on the floor's topic: the reference's fields plus what the measurement needs.
#[derive(Debug, Clone, serde::Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FloorJob {
    pub run_id: String,
    pub blueprint_id: String,
    pub node_id: String,
    /// Measurement the run belongs to (hop latencies are kept per tag).
    pub tag: String,
    /// When the predecessor ran (µs since 1970); for a start job, when it was started.
    pub pt: u64,
    /// Nodes run so far on this path (the result check: a chain of 20 ends at 20).
    pub n: u32,
}

/// What a run's terminal node reports to the driver.
#[derive(Debug, Clone, serde::Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DoneMessage {
    pub run_id: String,
    pub done_us: u64,
    pub n: u32,
}

pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}
