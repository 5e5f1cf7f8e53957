//! Redis connection settings.

use std::time::Duration;

pub const DEFAULT_URL: &str = "redis://127.0.0.1:6379";
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// TLS to Redis. PEM files; without `ca_location` the system's CA store is used.
#[derive(Debug, Clone, PartialEq)]
pub struct RedisTls {
    /// CA certificate(s) to trust instead of the system's store (every certificate of the file).
    pub ca_location: Option<String>,
    /// Client certificate (chain) and its key, both or neither.
    pub cert_location: Option<String>,
    pub key_location: Option<String>,
    /// false: accept any server certificate and name (testing only).
    pub reject_unauthorized: bool,
}

impl Default for RedisTls {
    fn default() -> Self {
        RedisTls {
            ca_location: None,
            cert_location: None,
            key_location: None,
            reject_unauthorized: true,
        }
    }
}

#[derive(Clone)]
pub struct RedisOptions {
    /// `redis://` or `rediss://` (TLS) `[user:password@]host:port[/db]`.
    pub url: String,
    pub connect_timeout: Duration,
    /// TLS settings; a `rediss://` URL uses TLS with the defaults when this is `None`.
    pub tls: Option<RedisTls>,
    /// ACL user; overrides the URL's.
    pub username: Option<String>,
    /// Overrides the URL's password. Never shown by `Debug` or in errors.
    pub password: Option<String>,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            url: DEFAULT_URL.to_string(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            tls: None,
            username: None,
            password: None,
        }
    }
}

/// Credentials stay out of logs: the URL is redacted and the password masked.
impl std::fmt::Debug for RedisOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisOptions")
            .field("url", &self.redacted_url())
            .field("connect_timeout", &self.connect_timeout)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
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

    #[test]
    fn debug_never_shows_a_password() {
        let options = RedisOptions {
            url: "rediss://user:url-secret@host:6380".into(),
            username: Some("app".into()),
            password: Some("option-secret".into()),
            tls: Some(RedisTls::default()),
            ..Default::default()
        };
        let shown = format!("{options:?}");
        assert!(!shown.contains("url-secret"), "{shown}");
        assert!(!shown.contains("option-secret"), "{shown}");
        assert!(shown.contains("rediss://***@host:6380"), "{shown}");
        assert!(shown.contains(r#"password: Some("***")"#), "{shown}");
        assert!(RedisTls::default().reject_unauthorized);
    }
}
