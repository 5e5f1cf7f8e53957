//! The schedule message format, compatible with etf1/kafka-message-scheduler (kms).
//!
//! A schedule is a message on the schedules topic: key = the schedule's identity (a
//! new message with the same key replaces it, a tombstone cancels it), value = the
//! payload to deliver, and headers:
//!
//! | header | meaning |
//! |---|---|
//! | `scheduler-epoch` | due time, whole seconds since 1970 (kms) |
//! | `flowcraft-scheduler-epoch-ms` | due time in milliseconds (ours, optional; wins over `scheduler-epoch`) |
//! | `scheduler-target-topic` | where the payload goes at the due time |
//! | `scheduler-target-key` | the key it goes with |
//!
//! At the due time the payload is produced to the target with the schedule's other
//! headers plus `scheduler-timestamp` (the schedule message's timestamp, seconds),
//! `scheduler-key` and `scheduler-topic`, as kms does.

use super::headers::HeaderBlock;

pub const EPOCH: &str = "scheduler-epoch";
pub const EPOCH_MS: &str = "flowcraft-scheduler-epoch-ms";
pub const TARGET_TOPIC: &str = "scheduler-target-topic";
pub const TARGET_KEY: &str = "scheduler-target-key";
pub const ORIGINAL_TIMESTAMP: &str = "scheduler-timestamp";
pub const ORIGINAL_KEY: &str = "scheduler-key";
pub const ORIGINAL_TOPIC: &str = "scheduler-topic";
/// On history copies: when it fired, and whether later than the grace window allows.
pub const FIRED_AT_MS: &str = "flowcraft-scheduler-fired-at-ms";
pub const LATE: &str = "flowcraft-scheduler-late";
/// On the tombstone written after firing: the offset of the schedule that fired, so a
/// newer schedule with the same key (sent while that one fired) is not cancelled by it.
pub const FIRED_OFFSET: &str = "flowcraft-scheduler-fired-offset";

/// The headers this protocol consumes: not copied to the target.
const INPUT_HEADERS: [&str; 4] = [EPOCH, EPOCH_MS, TARGET_TOPIC, TARGET_KEY];

/// A valid schedule, as held until it fires. Headers are kept whole (a schedule that
/// must be written again keeps them all) in one allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub due_ms: u64,
    /// The schedule message's timestamp (ms), for `scheduler-timestamp`.
    pub timestamp_ms: i64,
    pub value: Box<[u8]>,
    pub headers: HeaderBlock,
}

/// Reads a schedule message; the error says which header is missing or unparsable.
pub fn parse_schedule(
    key: Option<&[u8]>,
    value: &[u8],
    headers: HeaderBlock,
    timestamp_ms: i64,
) -> Result<Schedule, String> {
    if key.is_none_or(<[u8]>::is_empty) {
        return Err("schedule has no key (the key identifies it for replace and cancel)".into());
    }
    let due_ms = due_time_ms(&headers)?;
    target_of(&headers)?;
    Ok(Schedule {
        due_ms,
        timestamp_ms,
        value: value.into(),
        headers,
    })
}

fn due_time_ms(headers: &HeaderBlock) -> Result<u64, String> {
    let number = |name: &str| -> Result<Option<u64>, String> {
        let Some(raw) = headers.get(name) else {
            return Ok(None);
        };
        let text = std::str::from_utf8(raw.unwrap_or_default())
            .map_err(|_| format!("header {name} is not UTF-8"))?;
        text.trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| format!("header {name} = '{text}' is not a whole number"))
    };
    if let Some(ms) = number(EPOCH_MS)? {
        return Ok(ms);
    }
    match number(EPOCH)? {
        Some(seconds) => seconds
            .checked_mul(1000)
            .ok_or_else(|| format!("header {EPOCH} = {seconds} is out of range")),
        None => Err(format!("header {EPOCH} is missing")),
    }
}

/// `(target topic, target key)` of a schedule's headers.
pub fn target_of(headers: &HeaderBlock) -> Result<(&str, &[u8]), String> {
    let topic = match headers.get(TARGET_TOPIC) {
        Some(Some(raw)) => {
            std::str::from_utf8(raw).map_err(|_| format!("header {TARGET_TOPIC} is not UTF-8"))?
        }
        _ => return Err(format!("header {TARGET_TOPIC} is missing")),
    };
    if topic.is_empty()
        || topic.len() > 249
        || !topic
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(format!(
            "header {TARGET_TOPIC} = '{topic}' is not a valid topic name"
        ));
    }
    match headers.get(TARGET_KEY) {
        Some(key) => Ok((topic, key.unwrap_or_default())),
        None => Err(format!("header {TARGET_KEY} is missing")),
    }
}

/// Headers of the fired message: the schedule's own headers other than the protocol's,
/// then kms's `scheduler-timestamp`, `scheduler-key`, `scheduler-topic`.
pub fn fired_headers(schedule: &Schedule, key: &[u8], schedules_topic: &str) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = schedule
        .headers
        .iter()
        .filter(|(name, _)| !INPUT_HEADERS.contains(name))
        .map(|(name, value)| (name.to_string(), value.unwrap_or_default().to_vec()))
        .collect();
    let seconds = schedule.timestamp_ms.div_euclid(1000);
    out.push((ORIGINAL_TIMESTAMP.into(), seconds.to_string().into_bytes()));
    out.push((ORIGINAL_KEY.into(), key.to_vec()));
    out.push((ORIGINAL_TOPIC.into(), schedules_topic.as_bytes().to_vec()));
    out
}

/// The offset named by a tombstone's `flowcraft-scheduler-fired-offset`, if any.
pub fn fired_offset(headers: &HeaderBlock) -> Option<i64> {
    let raw = headers.get(FIRED_OFFSET)??;
    std::str::from_utf8(raw).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(pairs: &[(&str, &str)]) -> HeaderBlock {
        HeaderBlock::from_pairs(pairs.iter().map(|(k, v)| (*k, Some(v.as_bytes()))))
    }

    #[test]
    fn reads_kms_headers_and_prefers_milliseconds() {
        let kms = block(&[
            (EPOCH, "1893456000"),
            (TARGET_TOPIC, "videos"),
            (TARGET_KEY, "vid1"),
        ]);
        let schedule = parse_schedule(Some(b"k"), b"v", kms, 5_000).unwrap();
        assert_eq!(schedule.due_ms, 1_893_456_000_000);
        assert_eq!(target_of(&schedule.headers).unwrap(), ("videos", &b"vid1"[..]));
        let precise = block(&[
            (EPOCH, "1893456000"),
            (EPOCH_MS, "1893456000250"),
            (TARGET_TOPIC, "t"),
            (TARGET_KEY, ""),
        ]);
        assert_eq!(
            parse_schedule(Some(b"k"), b"", precise, 0).unwrap().due_ms,
            1_893_456_000_250
        );
    }

    #[test]
    fn says_what_is_wrong() {
        let reason = |pairs: &[(&str, &str)], key: Option<&[u8]>| {
            parse_schedule(key, b"v", block(pairs), 0).unwrap_err()
        };
        let full = [(EPOCH, "10"), (TARGET_TOPIC, "t"), (TARGET_KEY, "k")];
        assert!(reason(&full, None).contains("no key"));
        assert!(reason(&full[1..], Some(b"k")).contains("scheduler-epoch is missing"));
        assert!(
            reason(&[(EPOCH, "soon"), full[1], full[2]], Some(b"k")).contains("'soon' is not a whole number")
        );
        assert!(reason(&[full[0], full[2]], Some(b"k")).contains("scheduler-target-topic is missing"));
        assert!(reason(&[full[0], (TARGET_TOPIC, "a b"), full[2]], Some(b"k")).contains("not a valid topic"));
        assert!(reason(&full[..2], Some(b"k")).contains("scheduler-target-key is missing"));
        assert!(reason(&[(EPOCH_MS, "-5"), full[1], full[2]], Some(b"k")).contains(EPOCH_MS));
    }

    #[test]
    fn fired_message_carries_other_headers_and_kms_origin() {
        let headers = block(&[
            (EPOCH, "10"),
            (TARGET_TOPIC, "t"),
            (TARGET_KEY, "k"),
            ("customer", "x"),
        ]);
        let schedule = parse_schedule(Some(b"sched-1"), b"v", headers, 1_607_918_336_123).unwrap();
        let out = fired_headers(&schedule, b"sched-1", "schedules");
        let names: Vec<&str> = out.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["customer", ORIGINAL_TIMESTAMP, ORIGINAL_KEY, ORIGINAL_TOPIC]
        );
        assert_eq!(out[1].1, b"1607918336");
        assert_eq!(out[2].1, b"sched-1");
        assert_eq!(out[3].1, b"schedules");
    }
}
