//! Job messages on the wire: decoding a consumed message into a `Job` (or a reason to
//! dead-letter it) and the headers a dead letter carries.
//!
//! A message from the reference adapter is `{runId, blueprintId, nodeId, attempt?}`
//! with no `jobId`. We then derive the id from where the message sits
//! (`topic/partition/offset`): that is unique per message and the same on every
//! redelivery of that message, which is exactly the identity the engine's done-guard
//! needs. Deriving it from `runId+nodeId+attempt` instead would make two legitimate
//! jobs of one node (a loop's second iteration, a re-run after resume) look like a
//! redelivery, and the second would be skipped.

use serde_json::Value;

use super::signing::SignatureProblem;
use crate::engine::job::{derive_job_id, Job};
use crate::engine::limits::MAX_JOB_RUN_ID_BYTES;

/// Header names on error-topic messages.
pub const HEADER_REASON: &str = "flowcraft-error-reason";
pub const HEADER_SOURCE: &str = "flowcraft-error-source";
pub const HEADER_ORIGINAL_SIZE: &str = "flowcraft-error-original-size";
pub const HEADER_TRUNCATED: &str = "flowcraft-error-truncated";

/// How much of an oversize message is copied to the error topic.
pub const DEAD_LETTER_EXCERPT: usize = 64 * 1024;

/// Why a message cannot be handed to the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadInput {
    Empty,
    TooLarge {
        size: usize,
        limit: usize,
    },
    NotJson(String),
    NotAJob(String),
    /// `jobSigningKey` is set and the message's signature is missing or wrong.
    Signature(SignatureProblem),
}

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BadInput::Empty => write!(f, "empty message (null value)"),
            BadInput::TooLarge { size, limit } => {
                write!(f, "message of {size} bytes exceeds the limit of {limit} bytes")
            }
            BadInput::NotJson(e) => write!(f, "invalid JSON: {e}"),
            BadInput::NotAJob(e) => write!(f, "not a job: {e}"),
            BadInput::Signature(problem) => write!(f, "not accepted: {problem}"),
        }
    }
}

impl BadInput {
    /// The reason's name in metrics (`flowcraft_dead_letters_total{reason}`).
    pub fn label(&self) -> &'static str {
        match self {
            BadInput::Empty => "empty",
            BadInput::TooLarge { .. } => "too_large",
            BadInput::NotJson(_) => "not_json",
            BadInput::NotAJob(_) => "not_a_job",
            BadInput::Signature(SignatureProblem::Missing) => "unsigned",
            BadInput::Signature(SignatureProblem::Wrong) => "bad_signature",
        }
    }
}

/// Where a consumed message sits.
#[derive(Debug, Clone, Copy)]
pub struct Position<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
}

impl Position<'_> {
    pub fn describe(&self) -> String {
        format!("{}/{}@{}", self.topic, self.partition, self.offset)
    }
}

/// Decodes a job message, accepting the reference's payload without `jobId`.
pub fn decode_job(payload: Option<&[u8]>, at: Position<'_>, limit: usize) -> Result<Job, BadInput> {
    let bytes = payload.ok_or(BadInput::Empty)?;
    if bytes.len() > limit {
        return Err(BadInput::TooLarge {
            size: bytes.len(),
            limit,
        });
    }
    let mut value: Value = serde_json::from_slice(bytes).map_err(|e| BadInput::NotJson(e.to_string()))?;
    let object = value
        .as_object_mut()
        .ok_or_else(|| BadInput::NotAJob("the value is not a JSON object".into()))?;
    let reference_format = !object.contains_key("jobId");
    if reference_format {
        let id = derive_job_id(&format!("kafka:{}", at.describe()), "job");
        object.insert("jobId".into(), Value::String(id));
    }
    let mut job: Job = serde_json::from_value(value).map_err(|e| BadInput::NotAJob(e.to_string()))?;
    job.reference_format = reference_format;
    for (field, text) in [
        ("runId", &job.run_id),
        ("blueprintId", &job.blueprint_id),
        ("nodeId", &job.node_id),
        ("jobId", &job.job_id),
    ] {
        if text.is_empty() {
            return Err(BadInput::NotAJob(format!("field `{field}` is empty")));
        }
    }
    if job.run_id.len() > MAX_JOB_RUN_ID_BYTES {
        let length = job.run_id.len();
        return Err(BadInput::NotAJob(format!(
            "field `runId` has {length} bytes, over the {MAX_JOB_RUN_ID_BYTES}-byte limit"
        )));
    }
    Ok(job)
}

/// The value copied to the error topic: the original bytes, cut to an excerpt when the
/// message was too large to be re-published whole. Returns (value, truncated).
pub fn dead_letter_value(payload: Option<&[u8]>) -> (&[u8], bool) {
    let bytes = payload.unwrap_or_default();
    if bytes.len() > DEAD_LETTER_EXCERPT {
        (&bytes[..DEAD_LETTER_EXCERPT], true)
    } else {
        (bytes, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: Position<'static> = Position {
        topic: "t",
        partition: 2,
        offset: 7,
    };

    #[test]
    fn run_ids_longer_than_a_job_may_carry_are_refused() {
        let job = |run_id: &str| format!(r#"{{"runId":"{run_id}","blueprintId":"bp","nodeId":"a"}}"#);
        let longest = "r".repeat(MAX_JOB_RUN_ID_BYTES);
        assert!(decode_job(Some(job(&longest).as_bytes()), AT, 1 << 20).is_ok());
        let over = format!("{longest}r");
        match decode_job(Some(job(&over).as_bytes()), AT, 1 << 20) {
            Err(BadInput::NotAJob(why)) => assert!(why.contains("16385 bytes"), "{why}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn reference_payload_gets_a_position_derived_job_id() {
        let raw = br#"{"runId":"r","blueprintId":"bp","nodeId":"a","attempt":2}"#;
        let job = decode_job(Some(raw), AT, 1000).unwrap();
        assert_eq!(job.attempt, Some(2));
        assert!(job.reference_format);
        assert_eq!(job.job_id, decode_job(Some(raw), AT, 1000).unwrap().job_id);
        let elsewhere = Position { offset: 8, ..AT };
        assert_ne!(job.job_id, decode_job(Some(raw), elsewhere, 1000).unwrap().job_id);
    }

    #[test]
    fn engine_payload_keeps_its_job_id() {
        let raw = br#"{"runId":"r","blueprintId":"bp","nodeId":"a","jobId":"j1"}"#;
        assert_eq!(decode_job(Some(raw), AT, 1000).unwrap().job_id, "j1");
        assert!(!decode_job(Some(raw), AT, 1000).unwrap().reference_format);
    }

    #[test]
    fn bad_inputs_have_reasons() {
        assert_eq!(decode_job(None, AT, 10), Err(BadInput::Empty));
        assert!(matches!(
            decode_job(Some(b"{not json"), AT, 1000),
            Err(BadInput::NotJson(_))
        ));
        let missing = decode_job(Some(br#"{"runId":"r","nodeId":"a"}"#), AT, 1000).unwrap_err();
        assert!(missing.to_string().contains("blueprintId"), "{missing}");
        assert!(matches!(
            decode_job(Some(b"[1]"), AT, 1000),
            Err(BadInput::NotAJob(_))
        ));
        assert_eq!(
            decode_job(Some(&[b' '; 11]), AT, 10),
            Err(BadInput::TooLarge { size: 11, limit: 10 })
        );
        let empty = decode_job(Some(br#"{"runId":"","blueprintId":"b","nodeId":"a"}"#), AT, 1000);
        assert!(empty.unwrap_err().to_string().contains("runId"));
    }

    #[test]
    fn oversize_dead_letters_are_cut() {
        let big = vec![b'x'; DEAD_LETTER_EXCERPT + 1];
        let (value, truncated) = dead_letter_value(Some(&big));
        assert!(truncated);
        assert_eq!(value.len(), DEAD_LETTER_EXCERPT);
        assert_eq!(dead_letter_value(Some(b"abc")), (&b"abc"[..], false));
    }
}

/// Property tests of the decoder: whatever bytes arrive, it answers (a job or a reason)
/// without panicking, and a job it accepts is one the engine can take.
#[cfg(test)]
mod decoder_properties {
    use proptest::prelude::*;

    use super::*;

    const AT: Position<'static> = Position {
        topic: "t",
        partition: 0,
        offset: 1,
    };

    fn accepted_jobs_are_well_formed(job: &Job) {
        for text in [&job.run_id, &job.blueprint_id, &job.node_id, &job.job_id] {
            assert!(!text.is_empty());
        }
        assert!(job.run_id.len() <= MAX_JOB_RUN_ID_BYTES);
    }

    /// JSON values of any shape, up to a few levels deep.
    fn any_json() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(serde_json::Value::from),
            ".{0,12}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
                prop::collection::btree_map(".{0,8}", inner, 0..6)
                    .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
            ]
        })
    }

    /// Objects that look like jobs: the job's fields, mostly well-typed, sometimes empty,
    /// missing or of any type, plus stray fields.
    fn job_like() -> impl Strategy<Value = serde_json::Value> {
        let required = |name: &'static str| {
            prop_oneof![
                8 => "[a-z0-9:/%é ]{1,16}".prop_map(|text| Some(serde_json::Value::from(text))),
                1 => Just(Some(serde_json::Value::from(""))),
                1 => Just(None),
                1 => any_json().prop_map(Some),
            ]
            .prop_map(move |value| value.map(|value| (name.to_string(), value)))
        };
        let optional = |name: &'static str| {
            prop_oneof![
                6 => Just(None),
                2 => (0u32..5).prop_map(|n| Some(serde_json::Value::from(n))),
                1 => any_json().prop_map(Some),
            ]
            .prop_map(move |value| value.map(|value| (name.to_string(), value)))
        };
        (
            (
                required("runId"),
                required("blueprintId"),
                required("nodeId"),
                required("jobId"),
            ),
            (
                optional("attempt"),
                optional("phase"),
                optional("dynamic"),
                optional("seed"),
            ),
            prop::collection::btree_map("[a-z]{0,8}", any_json(), 0..3),
        )
            .prop_map(|((a, b, c, d), (e, f, g, h), stray)| {
                let mut object: serde_json::Map<String, serde_json::Value> = stray.into_iter().collect();
                object.extend([a, b, c, d, e, f, g, h].into_iter().flatten());
                serde_json::Value::Object(object)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(job) = decode_job(Some(&bytes), AT, 1 << 20) {
                accepted_jobs_are_well_formed(&job);
            }
        }

        #[test]
        fn job_like_objects_are_accepted_only_when_well_formed(value in job_like()) {
            let bytes = serde_json::to_vec(&value).unwrap();
            match decode_job(Some(&bytes), AT, 1 << 20) {
                Ok(job) => accepted_jobs_are_well_formed(&job),
                Err(reason) => prop_assert!(!reason.to_string().is_empty()),
            }
        }

        #[test]
        fn over_the_size_limit_is_refused_before_parsing(bytes in prop::collection::vec(any::<u8>(), 65..200)) {
            let refused = decode_job(Some(&bytes), AT, 64);
            let is_too_large = matches!(refused, Err(BadInput::TooLarge { .. }));
            prop_assert!(is_too_large);
        }
    }
}
