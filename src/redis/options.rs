//! Redis connection settings.

use std::time::Duration;

pub const DEFAULT_URL: &str = "redis://127.0.0.1:6379";
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct RedisOptions {
    pub url: String,
    pub connect_timeout: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            url: DEFAULT_URL.to_string(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }
}

impl RedisOptions {
    /// The URL with any password replaced, for error messages and logs.
    pub fn redacted_url(&self) -> String {
        match (self.url.find("://"), self.url.rfind('@')) {
            (Some(scheme_end), Some(at)) if at > scheme_end => {
                format!("{}://***{}", &self.url[..scheme_end], &self.url[at..])
            }
            _ => self.url.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_credentials() {
        let options = RedisOptions {
            url: "redis://user:secret@host:6379/0".into(),
            ..Default::default()
        };
        assert_eq!(options.redacted_url(), "redis://***@host:6379/0");
        assert_eq!(RedisOptions::default().redacted_url(), DEFAULT_URL);
    }
}
