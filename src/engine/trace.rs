//! W3C trace context and lineage across hops. Every job carries `refs`: its run's trace
//! id, the span of the node whose handling made it (the parent of this job's node span),
//! the caller's `tracestate`, the job that made it and its blueprint's version. A node's
//! own span id is derived from its job id, so a redelivered job and the jobs it makes
//! name the same span. The Kafka transport writes `refs` as `traceparent`, `tracestate`
//! and `flowcraft-*` headers too (`kafka::job_headers`).

use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::engine::job::Job;

/// What a job carries of its trace and lineage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRefs {
    /// 32 lowercase hex digits, never all zero.
    pub trace_id: String,
    /// 16 lowercase hex digits: the span this job's node runs under (its parent).
    pub parent_span_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_state: Option<String>,
    /// The job whose handling made this one (none for a run's start job).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_job_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blueprint_version: Option<String>,
}

/// What a node call sees of its trace (`ctx.trace` in JS).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeTrace {
    pub trace_id: String,
    /// This node's span.
    pub span_id: String,
    /// The span of the node that led here (or the caller's, for a start node).
    pub parent_span_id: String,
    /// This node's span as a `traceparent` value, for calls the node makes.
    pub traceparent: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracestate: Option<String>,
}

/// `00-<trace id>-<span id>-01`.
pub fn traceparent(trace_id: &str, span_id: &str) -> String {
    format!("00-{trace_id}-{span_id}-01")
}

/// The trace and parent span ids of a `traceparent` value; `None` when it is not one
/// (wrong version 'ff', length, digits, or an all-zero id).
pub fn parse_traceparent(value: &str) -> Option<(String, String)> {
    let mut parts = value.trim().split('-');
    let (version, trace_id, span_id, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |text: &str, len: usize| {
        text.len() == len
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let nonzero = |text: &str| text.bytes().any(|b| b != b'0');
    let well_formed = hex(version, 2)
        && version != "ff"
        && hex(trace_id, 32)
        && hex(span_id, 16)
        && hex(flags, 2)
        && nonzero(trace_id)
        && nonzero(span_id)
        && (version != "00" || parts.next().is_none());
    well_formed.then(|| (trace_id.to_string(), span_id.to_string()))
}

/// The span id of the node a job runs: derived from the job id (FNV-1a, 64 bits).
pub fn span_id_of(job_id: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in job_id.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    // Never all zero (an invalid span id).
    format!("{:016x}", hash | 1)
}

/// A new trace for a run started outside one: its root span is the run's.
pub fn new_run_refs(run_id: &str, blueprint_version: Option<String>) -> JobRefs {
    JobRefs {
        trace_id: uuid::Uuid::new_v4().simple().to_string(),
        parent_span_id: span_id_of(run_id),
        trace_state: None,
        parent_job_id: None,
        blueprint_version,
    }
}

/// A run started inside the caller's trace (`traceparent`, `tracestate`).
pub fn caller_refs(
    traceparent: &str,
    trace_state: Option<String>,
    blueprint_version: Option<String>,
) -> Option<JobRefs> {
    let (trace_id, parent_span_id) = parse_traceparent(traceparent)?;
    Some(JobRefs {
        trace_id,
        parent_span_id,
        trace_state,
        parent_job_id: None,
        blueprint_version,
    })
}

/// The job being handled by the current task, for the jobs its handling makes.
#[derive(Debug, Clone)]
struct Handled {
    run_id: String,
    node_id: String,
    job_id: String,
    refs: Option<JobRefs>,
}

tokio::task_local! {
    static HANDLED: Handled;
}

/// Runs `work` as the handling of job `job_id` (node `node_id` of `run_id`, carrying
/// `refs`): jobs it makes become its children.
pub async fn handling<F: Future>(
    run_id: &str,
    node_id: &str,
    job_id: &str,
    refs: Option<JobRefs>,
    work: F,
) -> F::Output {
    let handled = Handled {
        run_id: run_id.to_string(),
        node_id: node_id.to_string(),
        job_id: job_id.to_string(),
        refs,
    };
    HANDLED.scope(handled, work).await
}

/// The current node's trace, for its call (`None` outside a handling or for a job
/// without refs).
pub fn current_node_trace() -> Option<NodeTrace> {
    HANDLED
        .try_with(|handled| {
            let refs = handled.refs.as_ref()?;
            let span_id = span_id_of(&handled.job_id);
            Some(NodeTrace {
                traceparent: traceparent(&refs.trace_id, &span_id),
                trace_id: refs.trace_id.clone(),
                span_id,
                parent_span_id: refs.parent_span_id.clone(),
                tracestate: refs.trace_state.clone(),
            })
        })
        .ok()
        .flatten()
}

/// The refs of a job made by the current handling: another attempt or the wake of the
/// same node keeps the handled job's parent; any other job is a child of its node's
/// span; a subflow's child run continues the trace the same way.
pub fn child_refs(run_id: &str, node_id: &str) -> Option<JobRefs> {
    HANDLED
        .try_with(|handled| {
            let refs = handled.refs.as_ref()?;
            let same_node = handled.run_id == run_id && handled.node_id == node_id;
            Some(JobRefs {
                parent_span_id: match same_node {
                    true => refs.parent_span_id.clone(),
                    false => span_id_of(&handled.job_id),
                },
                parent_job_id: Some(handled.job_id.clone()),
                ..refs.clone()
            })
        })
        .ok()
        .flatten()
}

/// Gives jobs made by the current handling their refs (jobs that have some keep them).
pub fn stamp(jobs: &mut [Job]) {
    for job in jobs.iter_mut().filter(|job| job.refs.is_none()) {
        job.refs = child_refs(&job.run_id, &job.node_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_values_are_checked_as_w3c_says() {
        let (trace, span) =
            parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(
            (trace.as_str(), span.as_str()),
            ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
        );
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "junk",
        ] {
            assert_eq!(parse_traceparent(bad), None, "{bad}");
        }
        assert_eq!(
            traceparent(&trace, &span),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
    }

    #[test]
    fn span_ids_are_stable_per_job_and_never_zero() {
        assert_eq!(span_id_of("job-1"), span_id_of("job-1"));
        assert_ne!(span_id_of("job-1"), span_id_of("job-2"));
        assert_eq!(span_id_of("").len(), 16);
        assert!(parse_traceparent(&traceparent(&"a".repeat(32), &span_id_of("x"))).is_some());
    }

    #[tokio::test]
    async fn jobs_made_in_a_handling_are_its_children_and_retries_its_siblings() {
        let mut job = Job::new("run", "bp", "a");
        job.job_id = "job-a".into();
        job.refs = Some(new_run_refs("run", Some("v1".into())));
        let root = job.refs.clone().unwrap();
        handling(&job.run_id, &job.node_id, &job.job_id, job.refs.clone(), async {
            let trace = current_node_trace().unwrap();
            assert_eq!(trace.trace_id, root.trace_id);
            assert_eq!(trace.parent_span_id, root.parent_span_id);
            assert_eq!(trace.span_id, span_id_of("job-a"));
            let mut made = vec![Job::new("run", "bp", "b"), Job::new("run", "bp", "a")];
            stamp(&mut made);
            let successor = made[0].refs.clone().unwrap();
            assert_eq!(successor.parent_span_id, span_id_of("job-a"));
            assert_eq!(successor.parent_job_id.as_deref(), Some("job-a"));
            assert_eq!(successor.blueprint_version.as_deref(), Some("v1"));
            let retry = made[1].refs.clone().unwrap();
            assert_eq!(
                retry.parent_span_id, root.parent_span_id,
                "another attempt of the same node"
            );
        })
        .await;
        let mut outside = vec![Job::new("run", "bp", "b")];
        stamp(&mut outside);
        assert_eq!(outside[0].refs, None);
    }
}
