use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One request over a fresh connection, read to its end.
async fn request(address: SocketAddr, method: &str, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
}

#[tokio::test]
async fn serves_its_routes_and_says_which_exist() {
    let routes = Routes::default().get("/metrics", || Reply::text("text/plain", "up 1\n".into()));
    let server = HttpServer::listen("127.0.0.1", 0, routes).await.unwrap();
    let address = server.address();
    let ok = request(address, "GET", "/metrics").await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert!(ok.contains("content-type: text/plain"), "{ok}");
    assert!(ok.ends_with("up 1\n"), "{ok}");
    let missing = request(address, "GET", "/nope").await;
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
    assert!(missing.contains("routes: /metrics"), "{missing}");
    let wrong = request(address, "POST", "/metrics").await;
    assert!(wrong.starts_with("HTTP/1.1 405"), "{wrong}");
    let head = request(address, "HEAD", "/metrics").await;
    assert!(
        head.starts_with("HTTP/1.1 200") && !head.contains("up 1"),
        "{head}"
    );
    server.close().await;
    // Closed: the port is free again and nothing answers on it.
    assert!(tokio::net::TcpStream::connect(address).await.is_err());
    let again = HttpServer::listen("127.0.0.1", address.port(), Routes::default())
        .await
        .unwrap();
    again.close().await;
}

#[tokio::test]
async fn a_port_in_use_is_a_coded_error_naming_the_address() {
    let first = HttpServer::listen("127.0.0.1", 0, Routes::default())
        .await
        .unwrap();
    let port = first.address().port();
    let error = HttpServer::listen("127.0.0.1", port, Routes::default())
        .await
        .err()
        .expect("the port is taken");
    assert_eq!(error.code(), "ERR_HTTP_LISTEN");
    assert!(
        error.to_string().contains(&format!("127.0.0.1:{port}")),
        "{error}"
    );
    first.close().await;
}
