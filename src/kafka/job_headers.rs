//! The trace and lineage headers of a job message (`engine::trace`): written on every job
//! produced to the jobs or schedules topic, read from jobs other clients produced.

use rdkafka::message::{BorrowedHeaders, Header, Headers, OwnedHeaders};

use crate::engine::job::Job;
use crate::engine::trace::{caller_refs, traceparent, JobRefs};

/// W3C trace context of a job message: the span of the node whose handling made it.
pub const HEADER_TRACEPARENT: &str = "traceparent";
pub const HEADER_TRACESTATE: &str = "tracestate";
/// Lineage, as PredictHQ's wrapper keeps `refs`: which run, which job made this one, which
/// blueprint and version. Dead letters keep them with the rest of the original headers.
pub const HEADER_RUN_ID: &str = "flowcraft-run-id";
pub const HEADER_PARENT_JOB: &str = "flowcraft-parent-job";
pub const HEADER_BLUEPRINT: &str = "flowcraft-blueprint";
pub const HEADER_BLUEPRINT_VERSION: &str = "flowcraft-blueprint-version";

fn header(headers: OwnedHeaders, key: &str, value: &str) -> OwnedHeaders {
    headers.insert(Header {
        key,
        value: Some(value.as_bytes()),
    })
}

/// `headers` plus the run id and, with a trace, `traceparent` and `tracestate`: what
/// every message about a run carries (job messages, the results announcement).
pub fn run_trace_headers(
    headers: OwnedHeaders,
    run_id: &str,
    trace: Option<(&str, Option<&str>)>,
) -> OwnedHeaders {
    let mut headers = header(headers, HEADER_RUN_ID, run_id);
    if let Some((traceparent, state)) = trace {
        headers = header(headers, HEADER_TRACEPARENT, traceparent);
        if let Some(state) = state {
            headers = header(headers, HEADER_TRACESTATE, state);
        }
    }
    headers
}

/// `headers` plus the job's trace and lineage headers.
pub fn job_headers(job: &Job, headers: OwnedHeaders) -> OwnedHeaders {
    let parent = job
        .refs
        .as_ref()
        .map(|refs| (traceparent(&refs.trace_id, &refs.parent_span_id), refs));
    let trace = parent
        .as_ref()
        .map(|(parent, refs)| (parent.as_str(), refs.trace_state.as_deref()));
    let mut headers = run_trace_headers(headers, &job.run_id, trace);
    headers = header(headers, HEADER_BLUEPRINT, &job.blueprint_id);
    let Some(refs) = &job.refs else {
        return headers;
    };
    if let Some(parent) = &refs.parent_job_id {
        headers = header(headers, HEADER_PARENT_JOB, parent);
    }
    if let Some(version) = &refs.blueprint_version {
        headers = header(headers, HEADER_BLUEPRINT_VERSION, version);
    }
    headers
}

/// A job produced by another client (the reference adapter's format, an instrumented
/// producer) joins the trace its `traceparent` header names.
pub fn refs_from_headers(headers: Option<&BorrowedHeaders>) -> Option<JobRefs> {
    let headers = headers?;
    let text = |name: &str| {
        headers
            .iter()
            .find(|h| h.key == name)
            .and_then(|h| h.value)
            .and_then(|v| std::str::from_utf8(v).ok())
            .map(str::to_string)
    };
    caller_refs(&text(HEADER_TRACEPARENT)?, text(HEADER_TRACESTATE), None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::message::OwnedMessage;
    use rdkafka::Timestamp;

    fn value_of(headers: &OwnedHeaders, name: &str) -> Option<String> {
        headers
            .iter()
            .find(|h| h.key == name)
            .and_then(|h| h.value)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    #[test]
    fn a_job_carries_its_trace_and_lineage_and_a_foreign_traceparent_is_joined() {
        let mut job = Job::new("run-1", "bp", "b");
        job.refs = Some(JobRefs {
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
            parent_span_id: "00f067aa0ba902b7".into(),
            trace_state: Some("vendor=1".into()),
            parent_job_id: Some("job-a".into()),
            blueprint_version: Some("7".into()),
        });
        let headers = job_headers(&job, OwnedHeaders::new());
        assert_eq!(
            value_of(&headers, HEADER_TRACEPARENT).as_deref(),
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        );
        assert_eq!(value_of(&headers, HEADER_TRACESTATE).as_deref(), Some("vendor=1"));
        assert_eq!(value_of(&headers, HEADER_RUN_ID).as_deref(), Some("run-1"));
        assert_eq!(value_of(&headers, HEADER_PARENT_JOB).as_deref(), Some("job-a"));
        assert_eq!(value_of(&headers, HEADER_BLUEPRINT_VERSION).as_deref(), Some("7"));
        let message = OwnedMessage::new(
            None,
            None,
            "t".into(),
            Timestamp::NotAvailable,
            0,
            0,
            Some(headers),
        );
        let borrowed = rdkafka::message::Message::headers(&message).map(|h| h.as_borrowed());
        let joined = refs_from_headers(borrowed).unwrap();
        assert_eq!(joined.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(joined.parent_span_id, "00f067aa0ba902b7");
        assert_eq!(joined.trace_state.as_deref(), Some("vendor=1"));
        // Without refs: only the run and blueprint.
        let plain = job_headers(&Job::new("run-2", "bp", "a"), OwnedHeaders::new());
        assert_eq!(value_of(&plain, HEADER_TRACEPARENT), None);
        assert_eq!(value_of(&plain, HEADER_BLUEPRINT).as_deref(), Some("bp"));
    }
}
