//! Signed job messages (`jobSigningKey`): every job this deployment writes to the jobs or
//! schedules topic carries an HMAC-SHA256 of its value under a shared key, and a worker
//! handles only messages whose signature matches. Whoever can write to the topics but
//! does not hold the key cannot make a job take effect: the message is dead-lettered.

use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::sign::Signer;
use rdkafka::message::{Header, OwnedHeaders, ToBytes};
use rdkafka::producer::FutureRecord;

use super::job_headers::job_headers;
use super::KafkaTransportOptions;
use crate::engine::job::Job;

/// The header that carries a job message's signature (lowercase hex).
pub const SIGNATURE_HEADER: &str = "flowcraft-signature";

/// Shortest key accepted, in bytes: HMAC-SHA256 is only as strong as its key.
pub const MIN_KEY_BYTES: usize = 16;

pub struct JobSigner {
    key: PKey<Private>,
}

/// Why a message's signature does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureProblem {
    Missing,
    Wrong,
}

impl std::fmt::Display for SignatureProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignatureProblem::Missing => {
                write!(f, "unsigned message (the workers require `{SIGNATURE_HEADER}`)")
            }
            SignatureProblem::Wrong => {
                write!(f, "the `{SIGNATURE_HEADER}` header does not match the message")
            }
        }
    }
}

impl std::fmt::Debug for JobSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.write_str("JobSigner { .. }")
    }
}

impl JobSigner {
    /// A signer for `key`, or why the key cannot be one (never the key itself).
    pub fn new(key: &[u8]) -> Result<Self, String> {
        if key.len() < MIN_KEY_BYTES {
            return Err(format!(
                "jobSigningKey must be at least {MIN_KEY_BYTES} bytes, this one has {}",
                key.len()
            ));
        }
        let key = PKey::hmac(key).map_err(|e| format!("jobSigningKey cannot be used: {e}"))?;
        Ok(JobSigner { key })
    }

    /// The signature of `value`, as the header carries it.
    pub fn sign(&self, value: &[u8]) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut signature = String::with_capacity(64);
        for byte in self.mac(value) {
            signature.push(char::from(HEX[usize::from(byte >> 4)]));
            signature.push(char::from(HEX[usize::from(byte & 15)]));
        }
        signature
    }

    fn mac(&self, value: &[u8]) -> Vec<u8> {
        // HMAC over bytes in memory cannot fail once the key was accepted.
        let mut signer = Signer::new(MessageDigest::sha256(), &self.key).expect("HMAC-SHA256 signer");
        signer.update(value).expect("HMAC update");
        signer.sign_to_vec().expect("HMAC result")
    }

    /// `headers` with `value`'s signature added.
    pub fn signed(&self, headers: OwnedHeaders, value: &[u8]) -> OwnedHeaders {
        let signature = self.sign(value);
        headers.insert(Header {
            key: SIGNATURE_HEADER,
            value: Some(&signature),
        })
    }

    /// Whether `signature` (the header's value, if any) is `value`'s, compared in
    /// constant time.
    pub fn verify(&self, value: &[u8], signature: Option<&[u8]>) -> Result<(), SignatureProblem> {
        let signature = signature.ok_or(SignatureProblem::Missing)?;
        let expected = self.sign(value);
        let matches =
            signature.len() == expected.len() && openssl::memcmp::eq(signature, expected.as_bytes());
        if matches {
            Ok(())
        } else {
            Err(SignatureProblem::Wrong)
        }
    }
}

/// `record` (`job` for the jobs topic) with its trace and lineage headers, and its
/// signature when `options` sign jobs.
pub fn signed_job<'a, K, P>(
    options: &KafkaTransportOptions,
    job: &Job,
    record: FutureRecord<'a, K, P>,
) -> FutureRecord<'a, K, P>
where
    K: ToBytes + ?Sized,
    P: ToBytes + ?Sized,
{
    let headers = job_headers(job, OwnedHeaders::new_with_capacity(7));
    match &options.job_signer {
        Some(signer) => {
            let payload = record.payload.map(ToBytes::to_bytes).unwrap_or_default();
            let headers = signer.signed(headers, payload);
            record.headers(headers)
        }
        None => record.headers(headers),
    }
}

/// The `flowcraft-signature` header of a message, if present.
pub fn signature_of(headers: Option<&rdkafka::message::BorrowedHeaders>) -> Option<&[u8]> {
    use rdkafka::message::Headers;
    headers?
        .iter()
        .find(|header| header.key == SIGNATURE_HEADER)
        .and_then(|header| header.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_for_its_value_and_key() {
        let signer = JobSigner::new(b"0123456789abcdef-deployment").unwrap();
        let value = br#"{"runId":"r","blueprintId":"bp","nodeId":"a","jobId":"j"}"#;
        let signature = signer.sign(value);
        assert_eq!(signature.len(), 64);
        assert_eq!(signer.verify(value, Some(signature.as_bytes())), Ok(()));
        assert_eq!(signer.verify(value, None), Err(SignatureProblem::Missing));
        let tampered = br#"{"runId":"r","blueprintId":"bp","nodeId":"b","jobId":"j"}"#;
        assert_eq!(
            signer.verify(tampered, Some(signature.as_bytes())),
            Err(SignatureProblem::Wrong)
        );
        let other = JobSigner::new(b"another-key-of-16-bytes").unwrap();
        assert_eq!(
            other.verify(value, Some(signature.as_bytes())),
            Err(SignatureProblem::Wrong)
        );
        assert_eq!(signer.verify(value, Some(b"short")), Err(SignatureProblem::Wrong));
    }

    #[test]
    fn short_keys_are_refused_without_showing_them() {
        let refused = JobSigner::new(b"secret-pw").unwrap_err();
        assert!(
            refused.contains("at least 16 bytes") && !refused.contains("secret-pw"),
            "{refused}"
        );
        assert_eq!(
            format!("{:?}", JobSigner::new(b"0123456789abcdef").unwrap()),
            "JobSigner { .. }"
        );
    }
}
