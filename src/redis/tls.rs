//! TLS to Redis: a native-tls (OpenSSL) connector built from PEM files. Every error
//! names the option and the file, never a credential.

use fred::native_tls::{Certificate, Identity, TlsConnector as NativeTlsConnector};
use fred::types::config::{TlsConfig, TlsConnector, TlsHostMapping};
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;

use super::options::RedisTls;
use super::RedisError;

/// fred's TLS settings for `tls`: the server is verified against `ca_location` (or the
/// system's CA store) unless `reject_unauthorized` is false.
pub fn tls_config(tls: &RedisTls) -> Result<TlsConfig, RedisError> {
    Ok(TlsConfig {
        connector: TlsConnector::from(connector(tls)?),
        hostnames: TlsHostMapping::None,
    })
}

fn connector(tls: &RedisTls) -> Result<NativeTlsConnector, RedisError> {
    let mut builder = NativeTlsConnector::builder();
    if let Some(path) = &tls.ca_location {
        // Like Node's `ca`: the given CAs replace the system's store.
        builder.disable_built_in_roots(true);
        for certificate in ca_certificates(path)? {
            builder.add_root_certificate(certificate);
        }
    }
    match (&tls.cert_location, &tls.key_location) {
        (Some(cert), Some(key)) => {
            builder.identity(identity(cert, key)?);
        }
        (None, None) => {}
        (Some(_), None) => {
            return Err(config(
                "redis.tls.certLocation is given without redis.tls.keyLocation: give both or neither".into(),
            ))
        }
        (None, Some(_)) => {
            return Err(config(
                "redis.tls.keyLocation is given without redis.tls.certLocation: give both or neither".into(),
            ))
        }
    }
    if !tls.reject_unauthorized {
        builder
            .danger_accept_invalid_certs(true)
            .danger_accept_invalid_hostnames(true);
    }
    builder
        .build()
        .map_err(|e| config(format!("redis.tls: cannot set up TLS: {e}")))
}

/// Every certificate of the PEM file (a bundle may hold several).
fn ca_certificates(path: &str) -> Result<Vec<Certificate>, RedisError> {
    let pem = read("caLocation", path)?;
    let certificates = Certificate::stack_from_pem(&pem)
        .map_err(|e| file_error("caLocation", path, format!("not a PEM certificate file: {e}")))?;
    if certificates.is_empty() {
        return Err(file_error(
            "caLocation",
            path,
            "no certificate in the file (expected PEM '-----BEGIN CERTIFICATE-----')".into(),
        ));
    }
    Ok(certificates)
}

/// The client certificate (chain) and its key. native-tls wants a PKCS#8 key: PKCS#1
/// (`BEGIN RSA PRIVATE KEY`) and SEC1 (`BEGIN EC PRIVATE KEY`) keys are converted.
fn identity(cert_path: &str, key_path: &str) -> Result<Identity, RedisError> {
    let cert_pem = read("certLocation", cert_path)?;
    let leaf = X509::stack_from_pem(&cert_pem)
        .map_err(|e| {
            file_error(
                "certLocation",
                cert_path,
                format!("not a PEM certificate file: {e}"),
            )
        })?
        .into_iter()
        .next()
        .ok_or_else(|| {
            file_error(
                "certLocation",
                cert_path,
                "no certificate in the file (expected PEM '-----BEGIN CERTIFICATE-----')".into(),
            )
        })?;
    let key = private_key(key_path)?;
    let matches = leaf.public_key().is_ok_and(|public| public.public_eq(&key));
    if !matches {
        return Err(config(format!(
            "redis.tls.keyLocation {key_path} is not the key of redis.tls.certLocation {cert_path}"
        )));
    }
    let pkcs8 = key.private_key_to_pem_pkcs8().map_err(|e| {
        file_error(
            "keyLocation",
            key_path,
            format!("cannot convert the key to PKCS#8: {e}"),
        )
    })?;
    Identity::from_pkcs8(&cert_pem, &pkcs8)
        .map_err(|e| file_error("certLocation", cert_path, format!("unusable with its key: {e}")))
}

fn private_key(path: &str) -> Result<PKey<Private>, RedisError> {
    let pem = read("keyLocation", path)?;
    if pem.windows(9).any(|w| w == b"ENCRYPTED") {
        return Err(file_error(
            "keyLocation",
            path,
            "the key is encrypted: give an unencrypted PEM key".into(),
        ));
    }
    // An empty passphrase: OpenSSL never prompts on a terminal for a key it cannot read.
    PKey::private_key_from_pem_passphrase(&pem, b"")
        .map_err(|e| file_error("keyLocation", path, format!("not a PEM private key: {e}")))
}

fn read(option: &str, path: &str) -> Result<Vec<u8>, RedisError> {
    std::fs::read(path).map_err(|e| file_error(option, path, format!("cannot read: {e}")))
}

fn file_error(option: &str, path: &str, what: String) -> RedisError {
    config(format!("redis.tls.{option} {path}: {what}"))
}

fn config(reason: String) -> RedisError {
    RedisError::Config { reason }
}

/// A readable cause for a failed TLS handshake. fred passes native-tls's error on in
/// its `Debug` form; this keeps OpenSSL's reasons and the verification result
/// (`certificate verify failed (unable to get local issuer certificate)`), or returns
/// the text as it came.
pub fn describe_handshake_failure(details: &str) -> String {
    let reasons: Vec<&str> = quoted_values(details, "reason: ")
        .chain(quoted_values(details, "error: "))
        .collect();
    if reasons.is_empty() {
        return format!("TLS: {details}");
    }
    let (first, rest) = reasons.split_first().expect("not empty");
    if rest.is_empty() {
        format!("TLS handshake failed: {first}")
    } else {
        format!("TLS handshake failed: {first} ({})", rest.join("; "))
    }
}

fn quoted_values<'a>(text: &'a str, label: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    text.match_indices(label).filter_map(move |(at, _)| {
        let rest = text[at + label.len()..].strip_prefix('"')?;
        rest.find('"').map(|end| &rest[..end])
    })
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::path::PathBuf;

    use openssl::asn1::Asn1Time;
    use openssl::bn::BigNum;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::rsa::Rsa;
    use openssl::ssl::{SslAcceptor, SslMethod, SslVerifyMode};
    use openssl::x509::extension::{BasicConstraints, SubjectAlternativeName};
    use openssl::x509::{X509Builder, X509NameBuilder};

    use super::*;

    /// A CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files.
    struct Pki {
        dir: PathBuf,
    }

    impl Pki {
        fn new(name: &str) -> Pki {
            let dir = std::env::temp_dir().join(format!("flowcraft-redis-tls-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            let pki = Pki { dir };
            let ca_key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
            let ca = certificate("test CA", &ca_key, None, None);
            pki.write("ca.pem", &ca.to_pem().unwrap());
            let server_key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
            let server = certificate("server", &server_key, Some((&ca, &ca_key)), Some("IP:127.0.0.1"));
            pki.write("server.pem", &server.to_pem().unwrap());
            pki.write("server.key", &server_key.private_key_to_pem_pkcs8().unwrap());
            // A PKCS#1 RSA key ('BEGIN RSA PRIVATE KEY'), as `openssl genrsa -traditional` writes.
            let client_rsa = Rsa::generate(2048).unwrap();
            pki.write("client.key", &client_rsa.private_key_to_pem().unwrap());
            let client_key = PKey::from_rsa(client_rsa).unwrap();
            let client = certificate("client", &client_key, Some((&ca, &ca_key)), None);
            pki.write("client.pem", &client.to_pem().unwrap());
            // A SEC1 EC key ('BEGIN EC PRIVATE KEY').
            let ec = EcKey::generate(&EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap();
            pki.write("ec.key", &ec.private_key_to_pem().unwrap());
            let ec_key = PKey::from_ec_key(ec).unwrap();
            let ec_cert = certificate("ec client", &ec_key, Some((&ca, &ca_key)), None);
            pki.write("ec.pem", &ec_cert.to_pem().unwrap());
            pki
        }

        fn write(&self, name: &str, bytes: &[u8]) {
            std::fs::write(self.dir.join(name), bytes).unwrap();
        }

        fn path(&self, name: &str) -> String {
            self.dir.join(name).to_string_lossy().into_owned()
        }
    }

    impl Drop for Pki {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn certificate(
        cn: &str,
        key: &PKey<Private>,
        issuer: Option<(&X509, &PKey<Private>)>,
        san: Option<&str>,
    ) -> X509 {
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_nid(Nid::COMMONNAME, cn).unwrap();
        let name = name.build();
        let mut builder = X509Builder::new().unwrap();
        builder.set_version(2).unwrap();
        let serial = BigNum::from_u32(rand_serial())
            .unwrap()
            .to_asn1_integer()
            .unwrap();
        builder.set_serial_number(&serial).unwrap();
        builder.set_subject_name(&name).unwrap();
        builder.set_pubkey(key).unwrap();
        builder
            .set_not_before(&Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        builder
            .set_not_after(&Asn1Time::days_from_now(2).unwrap())
            .unwrap();
        match issuer {
            None => {
                builder.set_issuer_name(&name).unwrap();
                builder
                    .append_extension(BasicConstraints::new().critical().ca().build().unwrap())
                    .unwrap();
            }
            Some((ca, _)) => builder.set_issuer_name(ca.subject_name()).unwrap(),
        }
        if let Some(san) = san {
            let context = builder.x509v3_context(issuer.map(|(ca, _)| &**ca), None);
            let mut extension = SubjectAlternativeName::new();
            for entry in san.split(',') {
                match entry.split_once(':') {
                    Some(("IP", ip)) => extension.ip(ip),
                    Some(("DNS", dns)) => extension.dns(dns),
                    _ => panic!("bad SAN {entry}"),
                };
            }
            let extension = extension.build(&context).unwrap();
            builder.append_extension(extension).unwrap();
        }
        let signer = issuer.map(|(_, key)| key).unwrap_or(key);
        builder.sign(signer, MessageDigest::sha256()).unwrap();
        builder.build()
    }

    fn rand_serial() -> u32 {
        uuid::Uuid::new_v4().as_u128() as u32 & 0x7fff_ffff
    }

    fn reason(error: RedisError) -> String {
        match error {
            RedisError::Config { reason } => reason,
            other => panic!("expected a config error, got {other}"),
        }
    }

    fn files(pki: &Pki) -> RedisTls {
        RedisTls {
            ca_location: Some(pki.path("ca.pem")),
            cert_location: Some(pki.path("client.pem")),
            key_location: Some(pki.path("client.key")),
            reject_unauthorized: true,
        }
    }

    /// A TLS server on 127.0.0.1 that requires a client certificate from the test CA,
    /// answers one handshake, and reports the client certificate's CN (or the error).
    fn one_handshake(
        pki: &Pki,
        require_client: bool,
    ) -> (u16, std::thread::JoinHandle<Result<String, String>>) {
        let mut acceptor = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).unwrap();
        acceptor
            .set_certificate_chain_file(pki.path("server.pem"))
            .unwrap();
        acceptor
            .set_private_key_file(pki.path("server.key"), openssl::ssl::SslFiletype::PEM)
            .unwrap();
        acceptor.set_ca_file(pki.path("ca.pem")).unwrap();
        if require_client {
            acceptor.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
        }
        let acceptor = acceptor.build();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (socket, _) = listener.accept().map_err(|e| e.to_string())?;
            let mut stream = acceptor.accept(socket).map_err(|e| e.to_string())?;
            let mut byte = [0u8; 1];
            stream.read_exact(&mut byte).map_err(|e| e.to_string())?;
            stream.write_all(&byte).map_err(|e| e.to_string())?;
            let cn = stream
                .ssl()
                .peer_certificate()
                .and_then(|c| {
                    c.subject_name()
                        .entries_by_nid(Nid::COMMONNAME)
                        .next()
                        .and_then(|e| e.data().to_string().ok())
                })
                .unwrap_or_default();
            Ok(cn)
        });
        (port, server)
    }

    fn handshake(tls: &RedisTls, host: &str, port: u16) -> Result<(), String> {
        let connector = connector(tls).map_err(|e| e.to_string())?;
        let socket = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut stream = connector.connect(host, socket).map_err(|e| format!("{e:?}"))?;
        stream.write_all(b"x").unwrap();
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).unwrap();
        Ok(())
    }

    #[test]
    fn the_ca_file_is_trusted_and_the_client_certificate_is_presented() {
        let pki = Pki::new("trusted");
        let (port, server) = one_handshake(&pki, true);
        handshake(&files(&pki), "127.0.0.1", port).unwrap();
        assert_eq!(server.join().unwrap().unwrap(), "client");
        // A SEC1 EC key works too.
        let (port, server) = one_handshake(&pki, true);
        let ec = RedisTls {
            cert_location: Some(pki.path("ec.pem")),
            key_location: Some(pki.path("ec.key")),
            ..files(&pki)
        };
        handshake(&ec, "127.0.0.1", port).unwrap();
        assert_eq!(server.join().unwrap().unwrap(), "ec client");
    }

    #[test]
    fn an_untrusted_server_or_a_name_not_in_the_certificate_is_refused() {
        let pki = Pki::new("untrusted");
        // The system's store does not know the test CA.
        let (port, server) = one_handshake(&pki, false);
        let error = handshake(&RedisTls::default(), "127.0.0.1", port).unwrap_err();
        let _ = server.join();
        let described = describe_handshake_failure(&error);
        assert!(
            described.contains("certificate verify failed"),
            "{described} <- {error}"
        );
        // The server sends its CA along (OpenSSL builds the chain from its store).
        assert!(
            described.contains("unable to get local issuer certificate")
                || described.contains("self-signed certificate in certificate chain"),
            "{described}"
        );
        // The certificate is for IP 127.0.0.1, not for 'localhost'.
        let (port, server) = one_handshake(&pki, false);
        let ca_only = RedisTls {
            cert_location: None,
            key_location: None,
            ..files(&pki)
        };
        let error = handshake(&ca_only, "localhost", port).unwrap_err();
        let _ = server.join();
        assert!(
            describe_handshake_failure(&error).contains("hostname mismatch"),
            "{error}"
        );
        // rejectUnauthorized: false accepts both.
        let (port, server) = one_handshake(&pki, false);
        let lax = RedisTls {
            reject_unauthorized: false,
            ..Default::default()
        };
        handshake(&lax, "localhost", port).unwrap();
        server.join().unwrap().unwrap();
    }

    #[test]
    fn file_errors_name_the_option_and_the_path() {
        let pki = Pki::new("errors");
        let missing = "/nonexistent/flowcraft/ca.pem";
        let error = reason(
            connector(&RedisTls {
                ca_location: Some(missing.into()),
                ..Default::default()
            })
            .unwrap_err(),
        );
        assert!(
            error.starts_with(&format!("redis.tls.caLocation {missing}: cannot read:")),
            "{error}"
        );

        pki.write("empty.pem", b"just text\n");
        let error = reason(
            connector(&RedisTls {
                ca_location: Some(pki.path("empty.pem")),
                ..Default::default()
            })
            .unwrap_err(),
        );
        assert!(
            error.contains("caLocation") && error.contains("no certificate in the file"),
            "{error}"
        );

        let error = reason(
            connector(&RedisTls {
                key_location: None,
                ..files(&pki)
            })
            .unwrap_err(),
        );
        assert!(
            error.contains("certLocation is given without redis.tls.keyLocation"),
            "{error}"
        );
        let error = reason(
            connector(&RedisTls {
                cert_location: None,
                ..files(&pki)
            })
            .unwrap_err(),
        );
        assert!(
            error.contains("keyLocation is given without redis.tls.certLocation"),
            "{error}"
        );

        // The server's key with the client's certificate.
        let error = reason(
            connector(&RedisTls {
                key_location: Some(pki.path("server.key")),
                ..files(&pki)
            })
            .unwrap_err(),
        );
        assert!(
            error.contains("is not the key of redis.tls.certLocation"),
            "{error}"
        );

        let error = reason(
            connector(&RedisTls {
                key_location: Some(pki.path("ca.pem")),
                ..files(&pki)
            })
            .unwrap_err(),
        );
        assert!(
            error.starts_with(&format!(
                "redis.tls.keyLocation {}: not a PEM private key",
                pki.path("ca.pem")
            )),
            "{error}"
        );

        let key = PKey::private_key_from_pem(&std::fs::read(pki.path("client.key")).unwrap()).unwrap();
        let encrypted = key
            .private_key_to_pem_pkcs8_passphrase(openssl::symm::Cipher::aes_128_cbc(), b"key-secret")
            .unwrap();
        pki.write("encrypted.key", &encrypted);
        let error = reason(
            connector(&RedisTls {
                key_location: Some(pki.path("encrypted.key")),
                ..files(&pki)
            })
            .unwrap_err(),
        );
        assert!(error.contains("the key is encrypted"), "{error}");
        assert!(!error.contains("key-secret"), "{error}");

        let error = reason(
            connector(&RedisTls {
                cert_location: Some(pki.path("client.key")),
                ..files(&pki)
            })
            .unwrap_err(),
        );
        assert!(
            error.contains("redis.tls.certLocation") && error.contains("no certificate in the file"),
            "{error}"
        );
    }

    #[test]
    fn handshake_failures_read_well() {
        // fred's details for a failed handshake: native-tls's error in its Debug form.
        let details = r#"Error(Ssl(Error { code: ErrorCode(1), cause: Some(Ssl(ErrorStack([Error { code: 167772294, library: "SSL routines", function: "tls_post_process_server_certificate", reason: "certificate verify failed", file: "../ssl/statem/statem_clnt.c", line: 1889 }]))) }, X509VerifyResult { code: 62, error: "hostname mismatch" }))"#;
        assert_eq!(
            describe_handshake_failure(details),
            "TLS handshake failed: certificate verify failed (hostname mismatch)"
        );
        assert_eq!(
            describe_handshake_failure("Connection reset"),
            "TLS: Connection reset"
        );
    }
}
