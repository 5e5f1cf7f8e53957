//! An adapter's metrics: the registry every layer records into, and the optional HTTP
//! listener serving it on `/metrics` between `start()` and `stop()`.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::http::{HttpError, HttpServer, Reply, Routes};
use crate::metrics::Metrics;

/// `metrics: { port, host? }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsListen {
    pub host: String,
    pub port: u16,
}

impl MetricsListen {
    pub const DEFAULT_HOST: &'static str = "127.0.0.1";
}

/// Prometheus' text exposition format, version 0.0.4.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub struct MetricsService {
    metrics: Arc<Metrics>,
    listen: Option<MetricsListen>,
    server: tokio::sync::Mutex<Option<HttpServer>>,
    address: std::sync::Mutex<Option<SocketAddr>>,
}

impl MetricsService {
    pub fn new(listen: Option<MetricsListen>) -> Self {
        MetricsService {
            metrics: Arc::new(Metrics::new()),
            listen,
            server: tokio::sync::Mutex::new(None),
            address: std::sync::Mutex::new(None),
        }
    }

    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    pub fn render(&self) -> String {
        self.metrics.render()
    }

    /// Opens the listener if one was asked for and it is not open yet.
    pub async fn open(&self) -> Result<(), HttpError> {
        let Some(listen) = &self.listen else {
            return Ok(());
        };
        let mut server = self.server.lock().await;
        if server.is_some() {
            return Ok(());
        }
        let metrics = self.metrics.clone();
        let routes = Routes::default().get("/metrics", move || {
            Reply::text(METRICS_CONTENT_TYPE, metrics.render())
        });
        let opened = HttpServer::listen(&listen.host, listen.port, routes).await?;
        *self.address.lock().unwrap_or_else(|p| p.into_inner()) = Some(opened.address());
        *server = Some(opened);
        Ok(())
    }

    /// Closes the listener (the port is free once this resolves).
    pub async fn close(&self) {
        let opened = self.server.lock().await.take();
        *self.address.lock().unwrap_or_else(|p| p.into_inner()) = None;
        if let Some(server) = opened {
            server.close().await;
        }
    }

    /// Where `/metrics` is served now.
    pub fn address(&self) -> Option<SocketAddr> {
        *self.address.lock().unwrap_or_else(|p| p.into_inner())
    }
}
