//! Diagnostics of every layer through one handle per adapter: a level threshold and a
//! sink (stderr by default, the user's Flowcraft-shaped `logger` in the bindings). Each
//! line is a message for people plus a context object for machines (run, node, topic...).
//! Credentials embedded in URLs are masked before any sink sees a line.

use std::borrow::Cow;
use std::io::Write;
use std::sync::Arc;

use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// The least level written; `None` writes nothing (`'silent'`).
pub type Threshold = Option<Level>;

/// The names `logLevel` and `FLOWCRAFT_LOG` accept.
pub const THRESHOLD_NAMES: &str = "'debug', 'info', 'warn', 'error' or 'silent'";

/// Reads a threshold name (case-insensitive); `None` for a name that is not one.
pub fn parse_threshold(text: &str) -> Option<Threshold> {
    match text.trim().to_ascii_lowercase().as_str() {
        "debug" | "trace" => Some(Some(Level::Debug)),
        "info" => Some(Some(Level::Info)),
        "warn" | "warning" => Some(Some(Level::Warn)),
        "error" => Some(Some(Level::Error)),
        "silent" | "off" | "none" => Some(None),
        _ => None,
    }
}

/// The default threshold: `FLOWCRAFT_LOG` when it names one, else `info`.
pub fn threshold_from_env() -> Threshold {
    std::env::var("FLOWCRAFT_LOG")
        .ok()
        .and_then(|text| parse_threshold(&text))
        .unwrap_or(Some(Level::Info))
}

pub trait LogSink: Send + Sync {
    fn write(&self, level: Level, message: &str, context: &Map<String, Value>);
}

/// One line per event on stderr: `flowcraft <level>: <message> <context as JSON>`.
pub struct StderrSink;

impl LogSink for StderrSink {
    fn write(&self, level: Level, message: &str, context: &Map<String, Value>) {
        let mut line = format!("flowcraft {}: {message}", level.name());
        if !context.is_empty() {
            line.push(' ');
            line.push_str(&Value::Object(context.clone()).to_string());
        }
        line.push('\n');
        // A closed stderr is no reason to fail the work being logged.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

#[derive(Clone)]
pub struct Logger {
    threshold: Threshold,
    sink: Arc<dyn LogSink>,
}

impl std::fmt::Debug for Logger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Logger({})", self.threshold.map_or("silent", Level::name))
    }
}

impl Default for Logger {
    /// Stderr at the `FLOWCRAFT_LOG` threshold.
    fn default() -> Self {
        Logger::new(threshold_from_env(), Arc::new(StderrSink))
    }
}

impl Logger {
    pub fn new(threshold: Threshold, sink: Arc<dyn LogSink>) -> Self {
        Logger { threshold, sink }
    }

    pub fn enabled(&self, level: Level) -> bool {
        self.threshold.is_some_and(|least| level >= least)
    }

    /// Writes `message` with `context` (a JSON object; anything else is put under
    /// `value`) when `level` passes the threshold.
    pub fn log(&self, level: Level, message: &str, context: Value) {
        if !self.enabled(level) {
            return;
        }
        let mut context = match context {
            Value::Object(map) => map,
            Value::Null => Map::new(),
            other => Map::from_iter([("value".to_string(), other)]),
        };
        for value in context.values_mut() {
            if let Value::String(text) = value {
                if let Cow::Owned(masked) = mask_credentials(text) {
                    *text = masked;
                }
            }
        }
        self.sink.write(level, &mask_credentials(message), &context);
    }

    /// As `log`, building the line only when `level` passes the threshold: for lines on
    /// the hot path (one per run) that are usually below it.
    pub fn log_with(&self, level: Level, line: impl FnOnce() -> (String, Value)) {
        if self.enabled(level) {
            let (message, context) = line();
            self.log(level, &message, context);
        }
    }

    pub fn debug(&self, message: &str, context: Value) {
        self.log(Level::Debug, message, context);
    }

    pub fn info(&self, message: &str, context: Value) {
        self.log(Level::Info, message, context);
    }

    pub fn warn(&self, message: &str, context: Value) {
        self.log(Level::Warn, message, context);
    }

    pub fn error(&self, message: &str, context: Value) {
        self.log(Level::Error, message, context);
    }
}

/// `scheme://user:secret@host` becomes `scheme://user:***@host`, wherever it appears.
pub fn mask_credentials(text: &str) -> Cow<'_, str> {
    if !text.contains("://") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut changed = false;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(before);
        // The authority ends at the first '/', whitespace or quote; credentials end at '@'.
        let end = after
            .find(|c: char| c == '/' || c.is_whitespace() || c == '"' || c == '\'')
            .unwrap_or(after.len());
        let authority = &after[..end];
        match authority.rfind('@').and_then(|at_sign| {
            let user_info = &authority[..at_sign];
            user_info.find(':').map(|colon| (colon, at_sign))
        }) {
            Some((colon, at_sign)) => {
                out.push_str(&authority[..=colon]);
                out.push_str("***");
                out.push_str(&authority[at_sign..]);
                changed = true;
            }
            None => out.push_str(authority),
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    match changed {
        true => Cow::Owned(out),
        false => Cow::Borrowed(text),
    }
}

#[cfg(test)]
type KeptLine = (Level, String, Map<String, Value>);

/// A sink that keeps lines, for tests of what a layer logs.
#[cfg(test)]
#[derive(Default)]
pub struct KeptLines(pub std::sync::Mutex<Vec<KeptLine>>);

#[cfg(test)]
impl LogSink for KeptLines {
    fn write(&self, level: Level, message: &str, context: &Map<String, Value>) {
        self.0
            .lock()
            .unwrap()
            .push((level, message.to_string(), context.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_threshold_filters_and_context_is_an_object() {
        let kept = Arc::new(KeptLines::default());
        let logger = Logger::new(Some(Level::Warn), kept.clone());
        logger.info("not written", json!({}));
        logger.warn("written", json!({"runId": "r1"}));
        logger.error("a value", json!(42));
        let lines = kept.0.lock().unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].0, Level::Warn);
        assert_eq!(lines[0].2["runId"], "r1");
        assert_eq!(lines[1].2["value"], 42);
        assert!(!Logger::new(None, kept.clone()).enabled(Level::Error));
    }

    #[test]
    fn credentials_in_urls_are_masked_in_messages_and_context() {
        assert_eq!(
            mask_credentials("connect redis://app:hunter2@cache:6379/0 failed"),
            "connect redis://app:***@cache:6379/0 failed"
        );
        assert_eq!(
            mask_credentials("rediss://:pw@h and http://u:p@x"),
            "rediss://:***@h and http://u:***@x"
        );
        assert!(matches!(mask_credentials("redis://cache:6379"), Cow::Borrowed(_)));
        assert!(matches!(mask_credentials("no url"), Cow::Borrowed(_)));
        let kept = Arc::new(KeptLines::default());
        Logger::new(Some(Level::Debug), kept.clone())
            .error("at redis://u:secret@h", json!({"url": "redis://u:secret@h"}));
        let lines = kept.0.lock().unwrap();
        assert!(!lines[0].1.contains("secret") && !lines[0].2["url"].as_str().unwrap().contains("secret"));
    }

    #[test]
    fn threshold_names() {
        assert_eq!(parse_threshold("WARN"), Some(Some(Level::Warn)));
        assert_eq!(parse_threshold("silent"), Some(None));
        assert_eq!(parse_threshold("loud"), None);
    }
}
