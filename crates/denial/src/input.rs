//! Raw bytes to text: size limits, gzip, UTF-16 (PowerShell redirects), UTF-8, binary detection.

use std::io::Read;

use crate::{Error, MAX_DECOMPRESSED_BYTES, MAX_INPUT_BYTES};

/// Decode input bytes to text, refusing what is too large, binary or not text.
pub(crate) fn decode(input: &[u8]) -> Result<String, Error> {
    if input.len() as u64 > MAX_INPUT_BYTES {
        return Err(Error::TooLarge { limit: MAX_INPUT_BYTES });
    }
    if input.starts_with(&[0x1f, 0x8b]) {
        let bytes = gunzip(input)?;
        return decode_text(&bytes);
    }
    decode_text(input)
}

fn gunzip(input: &[u8]) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    let decoder = flate2::read::MultiGzDecoder::new(input);
    decoder
        .take(MAX_DECOMPRESSED_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| Error::Gzip { reason: e.to_string() })?;
    if out.len() as u64 > MAX_DECOMPRESSED_BYTES {
        return Err(Error::TooLarge { limit: MAX_DECOMPRESSED_BYTES });
    }
    Ok(out)
}

fn decode_text(bytes: &[u8]) -> Result<String, Error> {
    let text = if let Some(rest) = bytes.strip_prefix(&[0xff, 0xfe]) {
        utf16(rest, u16::from_le_bytes)?
    } else if let Some(rest) = bytes.strip_prefix(&[0xfe, 0xff]) {
        utf16(rest, u16::from_be_bytes)?
    } else {
        let body = bytes.strip_prefix(&[0xef, 0xbb, 0xbf]).unwrap_or(bytes);
        match std::str::from_utf8(body) {
            Ok(s) => s.to_string(),
            Err(e) => {
                if looks_binary_bytes(body) {
                    return Err(Error::Binary);
                }
                return Err(Error::NotUtf8 { offset: e.valid_up_to() });
            }
        }
    };
    if looks_binary_text(&text) {
        return Err(Error::Binary);
    }
    Ok(text)
}

fn utf16(bytes: &[u8], word: fn([u8; 2]) -> u16) -> Result<String, Error> {
    if !bytes.chunks_exact(2).remainder().is_empty() {
        return Err(Error::NotUtf8 { offset: bytes.len() });
    }
    let units: Vec<u16> = bytes.chunks_exact(2).map(|c| word([c[0], c[1]])).collect();
    String::from_utf16(&units).map_err(|_| Error::Binary)
}

/// Many NULs or control bytes: a binary file, not mis-encoded text.
fn looks_binary_bytes(bytes: &[u8]) -> bool {
    let sample = &bytes[..bytes.len().min(8192)];
    let control = sample.iter().filter(|&&b| b == 0 || (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c))).count();
    control > 0 && control * 20 >= sample.len().max(1)
}

/// A NUL, or more than 1 in 50 characters being control characters.
fn looks_binary_text(text: &str) -> bool {
    let mut total = 0usize;
    let mut control = 0usize;
    for c in text.chars().take(65536) {
        total += 1;
        if c == '\0' {
            return true;
        }
        if c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\u{0c}' | '\u{1b}') {
            control += 1;
        }
    }
    control * 50 > total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_oversized_input() {
        let big = vec![b'a'; MAX_INPUT_BYTES as usize + 1];
        assert_eq!(decode(&big), Err(Error::TooLarge { limit: MAX_INPUT_BYTES }));
    }

    #[test]
    fn reports_offset_of_invalid_utf8() {
        assert_eq!(decode(b"Access Denied \xff here"), Err(Error::NotUtf8 { offset: 14 }));
    }

    #[test]
    fn binary_junk_is_binary() {
        let junk: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
        assert_eq!(decode(&junk), Err(Error::Binary));
        assert_eq!(decode(b"abc\0def"), Err(Error::Binary));
    }

    #[test]
    fn reads_utf16_with_bom() {
        let mut bytes = vec![0xff, 0xfe];
        for u in "Access Denied".encode_utf16() {
            bytes.extend_from_slice(&u.to_le_bytes());
        }
        assert_eq!(decode(&bytes).unwrap(), "Access Denied");
    }

    #[test]
    fn gunzips() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(b"hello").unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(decode(&gz).unwrap(), "hello");
        assert!(matches!(decode(&gz[..gz.len() / 2]), Err(Error::Gzip { .. })));
    }
}
