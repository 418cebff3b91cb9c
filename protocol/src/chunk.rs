//! Transfer chunks: the MessagePack data carried inside Phoenix binary pushes
//! (uploads and media), a map `{offset, data}` with `data` as MessagePack bin.

use serde::{Deserialize, Serialize};

use crate::msgpack::MAX_DEPTH;

/// One piece of a transfer, placed at `offset` bytes into the whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chunk {
    /// Byte position of `data` within the transfer.
    pub offset: u64,
    /// The bytes themselves, encoded as MessagePack bin (not an int array).
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
}

/// Why bytes are not a valid [`Chunk`].
#[derive(Debug, thiserror::Error)]
pub enum ChunkError {
    /// Not MessagePack, or not a `{offset, data}` map.
    #[error("malformed chunk: {0}")]
    Malformed(#[from] rmp_serde::decode::Error),
    /// A valid chunk followed by extra bytes, which signals a framing bug.
    #[error("{0} trailing bytes after the chunk")]
    TrailingBytes(usize),
}

impl Chunk {
    /// Encodes as a MessagePack map with named fields, so it starts with the
    /// fixmap byte `0x82`, which never collides with a Phoenix binary kind.
    pub fn encode(&self) -> Vec<u8> {
        rmp_serde::to_vec_named(self)
            .expect("serialising a u64 and a byte string into a Vec cannot fail")
    }

    /// Decodes a chunk, rejecting trailing bytes.
    pub fn decode(bytes: &[u8]) -> Result<Chunk, ChunkError> {
        // The reading deserializer (not `from_slice`) exposes how far it got;
        // it only allocates as many bytes as are actually present.
        let mut de = rmp_serde::Deserializer::new(std::io::Cursor::new(bytes));
        de.set_max_depth(MAX_DEPTH);
        let chunk = Chunk::deserialize(&mut de)?;
        let used = usize::try_from(de.position()).unwrap_or(bytes.len());
        match bytes.len().saturating_sub(used) {
            0 => Ok(chunk),
            extra => Err(ChunkError::TrailingBytes(extra)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_as_a_named_map_with_bin_data() {
        let chunk = Chunk {
            offset: 7,
            data: vec![0xAA, 0xBB],
        };
        let bytes = chunk.encode();
        // fixmap(2), "offset", 7, "data", bin8(2) AA BB
        let mut expected = vec![0x82, 0xA6];
        expected.extend_from_slice(b"offset");
        expected.extend_from_slice(&[0x07, 0xA4]);
        expected.extend_from_slice(b"data");
        expected.extend_from_slice(&[0xC4, 0x02, 0xAA, 0xBB]);
        assert_eq!(bytes[0], 0x82);
        assert_eq!(bytes, expected);
    }

    #[test]
    fn round_trips() {
        for chunk in [
            Chunk {
                offset: 0,
                data: Vec::new(),
            },
            Chunk {
                offset: u64::MAX,
                data: (0..=255).collect(),
            },
            Chunk {
                offset: 65_536,
                data: vec![0; 70_000],
            },
        ] {
            assert_eq!(Chunk::decode(&chunk.encode()).unwrap(), chunk);
        }
    }

    #[test]
    fn skips_unknown_fields_but_not_deep_nesting() {
        let mut bytes = vec![0x83, 0xA6];
        bytes.extend_from_slice(b"offset");
        bytes.extend_from_slice(&[0x01, 0xA4]);
        bytes.extend_from_slice(b"data");
        bytes.extend_from_slice(&[0xC4, 0x01, 0xAA, 0xA1, b'x']);
        let mut shallow = bytes.clone();
        shallow.extend_from_slice(&[0x91, 0x91, 0xC0]);
        assert_eq!(
            Chunk::decode(&shallow).unwrap(),
            Chunk {
                offset: 1,
                data: vec![0xAA]
            }
        );
        // Found by fuzzing the envelopes, which shared the decoder's depth limit of 1,024: a
        // kilobyte of nested arrays overflowed a 2 MiB stack in a debug build.
        let mut deep = bytes;
        deep.extend_from_slice(&[0x91].repeat(5000));
        assert!(matches!(
            Chunk::decode(&deep),
            Err(ChunkError::Malformed(_))
        ));
    }

    #[test]
    fn rejects_garbage_and_trailing_bytes() {
        assert!(matches!(Chunk::decode(&[]), Err(ChunkError::Malformed(_))));
        assert!(matches!(
            Chunk::decode(&[0x00, 0x01]),
            Err(ChunkError::Malformed(_))
        ));
        // a bin32 header claiming 4 GiB with nothing behind it
        let mut lying = vec![0x82, 0xA6];
        lying.extend_from_slice(b"offset");
        lying.extend_from_slice(&[0x00, 0xA4]);
        lying.extend_from_slice(b"data");
        lying.extend_from_slice(&[0xC6, 0xFF, 0xFF, 0xFF, 0xFF]);
        assert!(matches!(
            Chunk::decode(&lying),
            Err(ChunkError::Malformed(_))
        ));

        let mut bytes = Chunk {
            offset: 1,
            data: vec![1],
        }
        .encode();
        bytes.extend_from_slice(&[0xC0, 0xC0]);
        assert!(matches!(
            Chunk::decode(&bytes),
            Err(ChunkError::TrailingBytes(2))
        ));
    }
}
