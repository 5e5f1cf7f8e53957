//! A message's headers in one allocation: a pending timer keeps its schedule's headers
//! for as long as it waits, and one boxed block costs far less than a vector of owned
//! names and values (two allocations per header).
//!
//! Layout per header: name length (u16 LE), name, value length (u32 LE, `u32::MAX` for
//! a null value), value.

use rdkafka::message::{BorrowedHeaders, Header, Headers, OwnedHeaders};

const NULL_VALUE: u32 = u32::MAX;

#[derive(Clone, PartialEq, Eq, Default)]
pub struct HeaderBlock(Box<[u8]>);

impl HeaderBlock {
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, Option<&'a [u8]>)>) -> Self {
        let mut bytes = Vec::new();
        for (name, value) in pairs {
            // Kafka header names are short; a name that does not fit is not ours to keep.
            let Ok(name_len) = u16::try_from(name.len()) else {
                continue;
            };
            let value_len = match value {
                Some(value) => match u32::try_from(value.len()) {
                    Ok(len) if len != NULL_VALUE => len,
                    _ => continue,
                },
                None => NULL_VALUE,
            };
            bytes.extend_from_slice(&name_len.to_le_bytes());
            bytes.extend_from_slice(name.as_bytes());
            bytes.extend_from_slice(&value_len.to_le_bytes());
            bytes.extend_from_slice(value.unwrap_or_default());
        }
        HeaderBlock(bytes.into_boxed_slice())
    }

    pub fn from_message(headers: Option<&BorrowedHeaders>) -> Self {
        match headers {
            Some(headers) => Self::from_pairs(headers.iter().map(|h| (h.key, h.value))),
            None => Self::default(),
        }
    }

    pub fn iter(&self) -> HeaderIter<'_> {
        HeaderIter { rest: &self.0 }
    }

    /// The first header named `name`: `Some(None)` when present with a null value.
    pub fn get(&self, name: &str) -> Option<Option<&[u8]>> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// Bytes held (for the memory figure).
    pub fn byte_len(&self) -> usize {
        self.0.len()
    }

    pub fn to_kafka(&self) -> OwnedHeaders {
        let mut out = OwnedHeaders::new_with_capacity(self.iter().count());
        for (key, value) in self.iter() {
            out = out.insert(Header { key, value });
        }
        out
    }
}

pub struct HeaderIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for HeaderIter<'a> {
    type Item = (&'a str, Option<&'a [u8]>);

    fn next(&mut self) -> Option<Self::Item> {
        let (name_len, rest) = self.rest.split_first_chunk::<2>()?;
        let name_len = u16::from_le_bytes(*name_len) as usize;
        let (name, rest) = rest.split_at_checked(name_len)?;
        let (value_len, rest) = rest.split_first_chunk::<4>()?;
        let value_len = u32::from_le_bytes(*value_len);
        let (value, rest) = if value_len == NULL_VALUE {
            (None, rest)
        } else {
            let (value, rest) = rest.split_at_checked(value_len as usize)?;
            (Some(value), rest)
        };
        self.rest = rest;
        // Names were &str when written.
        Some((std::str::from_utf8(name).unwrap_or_default(), value))
    }
}

impl std::fmt::Debug for HeaderBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|(k, v)| (k, v.map(String::from_utf8_lossy))))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_names_values_and_nulls() {
        let block =
            HeaderBlock::from_pairs([("a", Some(&b"1"[..])), ("empty", Some(&b""[..])), ("null", None)]);
        let all: Vec<_> = block.iter().collect();
        assert_eq!(
            all,
            [("a", Some(&b"1"[..])), ("empty", Some(&b""[..])), ("null", None)]
        );
        assert_eq!(block.get("null"), Some(None));
        assert_eq!(block.get("missing"), None);
        assert_eq!(block.byte_len(), 3 * 6 + 1 + 5 + 4 + 1);
        assert_eq!(block.to_kafka().count(), 3);
    }
}
