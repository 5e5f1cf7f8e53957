//! The one HTTP server of a process (hyper, HTTP/1.1): `/metrics` today; the admin API
//! and the standalone timer service add their routes to the same `Routes`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::errors::CodedError;

/// What a route answers.
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Reply {
    pub fn text(content_type: &'static str, body: String) -> Self {
        Reply {
            status: 200,
            content_type,
            body,
        }
    }
}

type Handler = Arc<dyn Fn() -> Reply + Send + Sync>;

/// GET routes by exact path.
#[derive(Default, Clone)]
pub struct Routes {
    get: HashMap<&'static str, Handler>,
}

impl Routes {
    pub fn get(mut self, path: &'static str, handler: impl Fn() -> Reply + Send + Sync + 'static) -> Self {
        self.get.insert(path, Arc::new(handler));
        self
    }

    fn answer(&self, request: &Request<Incoming>) -> Reply {
        let path = request.uri().path();
        match (request.method(), self.get.get(path)) {
            (&Method::GET | &Method::HEAD, Some(handler)) => handler(),
            (_, Some(_)) => plain(405, format!("{path} answers GET only\n")),
            (_, None) => {
                let mut known: Vec<&str> = self.get.keys().copied().collect();
                known.sort_unstable();
                plain(404, format!("no route {path}; routes: {}\n", known.join(", ")))
            }
        }
    }
}

fn plain(status: u16, body: String) -> Reply {
    Reply {
        status,
        content_type: "text/plain; charset=utf-8",
        body,
    }
}

/// The listener could not be opened.
#[derive(Debug)]
pub struct HttpError {
    pub address: String,
    pub cause: String,
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot listen for HTTP on {}: {}", self.address, self.cause)
    }
}

impl std::error::Error for HttpError {}

impl CodedError for HttpError {
    fn code(&self) -> &'static str {
        "ERR_HTTP_LISTEN"
    }

    fn details(&self) -> crate::errors::ErrorDetails {
        crate::errors::ErrorDetails {
            cause: Some(crate::errors::ErrorCause::client(None, self.cause.clone())),
            ..Default::default()
        }
    }
}

/// A running server; `close` stops it and its open connections.
pub struct HttpServer {
    address: SocketAddr,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl HttpServer {
    /// Listens on `host:port` (port 0: any free port, see `address`).
    pub async fn listen(host: &str, port: u16, routes: Routes) -> Result<Self, HttpError> {
        let address = format!("{host}:{port}");
        let listener = TcpListener::bind(&address).await.map_err(|e| HttpError {
            address: address.clone(),
            cause: e.to_string(),
        })?;
        let bound = listener.local_addr().map_err(|e| HttpError {
            address,
            cause: e.to_string(),
        })?;
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, Arc::new(routes), stopped));
        Ok(HttpServer {
            address: bound,
            stop,
            task,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stops accepting, ends open connections, and frees the port.
    pub async fn close(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

async fn accept_loop(listener: TcpListener, routes: Arc<Routes>, mut stopped: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped.changed() => break,
        };
        // A failed accept (too many open files) is the peer's loss, not the server's end.
        let Ok((stream, _peer)) = accepted else {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        };
        let routes = routes.clone();
        connections.spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let reply = routes.answer(&request);
                let head = request.method() == Method::HEAD;
                async move { Ok::<_, Infallible>(response(reply, head)) }
            });
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
        // Reap finished connections so the set does not grow with every scrape.
        while connections.try_join_next().is_some() {}
    }
    connections.shutdown().await;
}

fn response(reply: Reply, head: bool) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = if head {
        Bytes::new()
    } else {
        Bytes::from(reply.body)
    };
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    if let Ok(value) = hyper::header::HeaderValue::from_str(reply.content_type) {
        response.headers_mut().insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

#[cfg(test)]
mod tests;
