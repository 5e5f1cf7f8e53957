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
    /// The URL with any credentials replaced, for error messages and logs. Malformed URLs
    /// too (`redis:/:pw@host`): whatever precedes the last `@` after the scheme is hidden.
    pub fn redacted_url(&self) -> String {
        let url = self.url.as_str();
        let Some(at) = url.rfind('@') else {
            return url.to_string();
        };
        let scheme_end = match url.find(':') {
            Some(colon) if is_scheme(&url[..colon]) => {
                colon + 1 + url[colon + 1..].chars().take_while(|c| *c == '/').count()
            }
            _ => 0,
        };
        if at < scheme_end {
            return url.to_string();
        }
        format!("{}***{}", &url[..scheme_end], &url[at..])
    }
}

fn is_scheme(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_alphabetic())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
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
        let redacted = |url: &str| {
            RedisOptions {
                url: url.into(),
                ..Default::default()
            }
            .redacted_url()
        };
        assert_eq!(redacted("redis:/:pw@host"), "redis:/***@host");
        assert_eq!(redacted("rediss://:pw@host:6380"), "rediss://***@host:6380");
        assert_eq!(redacted(":pw@host"), "***@host");
        assert_eq!(redacted("redis:pw@host"), "redis:***@host");
    }
}
