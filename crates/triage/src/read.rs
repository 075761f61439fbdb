//! Streaming CloudTrail reader: one log file's bytes (gzip or not) to one call per event with an
//! error, without building the whole document. A `{"Records": […]}` file, `aws cloudtrail
//! lookup-events` output (`{"Events": [{"CloudTrailEvent": "…"}]}`), a top-level array of events,
//! one event, or JSON lines of any of these.
//!
//! Records are split with serde_json's borrowed raw values; only a record whose text names
//! `"errorCode"` is read, in one pass into explain's borrowed [`EventRecord`] (the fields explain's
//! reader uses; no map is built, strings without escapes are not copied), and handed to explain's
//! reader. Events that succeeded cost one scan and a substring search.

use std::borrow::Cow;
use std::fmt;
use std::io::Read;

use denyctl_denial::{json_kind as kind_of, EventRecord};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// Largest source read whole, after gzip decompression (a CloudTrail file is a few MB); JSON
/// lines of any size are read a block at a time instead.
pub const MAX_DECOMPRESSED_BYTES: u64 = 1 << 30;

/// A source whose text runs past this many bytes is read a block at a time when it is JSON lines
/// (memory: one block, not the file).
pub const STREAM_BLOCK_BYTES: usize = 64 << 20;

/// Why a whole source could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// A gzip stream that does not decompress (truncated, corrupt).
    #[error("gzip does not decompress: {0}")]
    Gzip(String),
    /// Larger than [`MAX_DECOMPRESSED_BYTES`] once decompressed, and not JSON lines.
    #[error("larger than {} bytes of text once decompressed (only JSON lines are read past that, a block at a time)", MAX_DECOMPRESSED_BYTES)]
    TooLarge,
    /// The source's bytes could not be read.
    #[error("cannot read: {0}")]
    Io(String),
    /// Not UTF-8 text.
    #[error("not UTF-8 text (invalid byte at offset {0})")]
    NotText(usize),
    /// Not JSON at all.
    #[error("not JSON: {0}")]
    NotJson(String),
    /// JSON, but not CloudTrail.
    #[error("not a CloudTrail log: {0}")]
    NotCloudTrail(String),
    /// Valid up to a point, then broken: the records before it were read.
    #[error("broken after {records} records: {reason}")]
    Broken {
        /// Records read before the break.
        records: u64,
        /// What the parser said.
        reason: String,
    },
}

/// The bytes of a log file, decompressed when they are gzip (detected by the magic number, not the
/// name), whole: the reference the streamed reading is tested against.
#[cfg(test)]
fn decompress(bytes: &[u8]) -> Result<Cow<'_, [u8]>, ReadError> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(Cow::Borrowed(bytes));
    }
    // The trailer's ISIZE (size mod 2^32) is a good first guess for the buffer.
    let hint = gzip_size_hint(bytes).unwrap_or(0) as usize;
    let mut out = Vec::with_capacity(hint.clamp(bytes.len(), 256 << 20));
    let mut dec = flate2::read::MultiGzDecoder::new(bytes).take(MAX_DECOMPRESSED_BYTES + 1);
    dec.read_to_end(&mut out).map_err(|e| gzip_error(&e, out.len() as u64))?;
    if out.len() as u64 > MAX_DECOMPRESSED_BYTES {
        return Err(ReadError::TooLarge);
    }
    Ok(Cow::Owned(out))
}

/// A gzip stream's failure after `done` bytes came out of it.
fn gzip_error(e: &std::io::Error, done: u64) -> ReadError {
    let msg = e.to_string();
    if e.kind() == std::io::ErrorKind::UnexpectedEof || msg.contains("unexpected end") {
        ReadError::Gzip(format!("truncated ({done} bytes decompressed before the end)"))
    } else {
        ReadError::Gzip(msg)
    }
}

/// Read one source from a reader (a file), gzip or not, as [`read`] reads bytes in memory;
/// `input_len` (the file's length, when known) sizes the buffer of a plain file's text.
pub(crate) fn read_stream(input: &mut dyn Read, input_len: Option<u64>, sink: &mut dyn EventSink) -> Result<u64, ReadError> {
    read_stream_blocks(input, input_len, None, sink, STREAM_BLOCK_BYTES)
}

/// The text size a gzip member's trailer gives (ISIZE: the size modulo 2^32), for sizing buffers.
fn gzip_size_hint(bytes: &[u8]) -> Option<u64> {
    let at = bytes.len().checked_sub(4)?;
    let t = bytes.get(at..)?;
    bytes.starts_with(&[0x1f, 0x8b]).then(|| u64::from(u32::from_le_bytes([t[0], t[1], t[2], t[3]])))
}

/// The streamed reading, holding at most `block` bytes of text when it is JSON lines: a source
/// whose text fits in one block is read whole; a longer one whose first line is a whole JSON
/// object is read as JSON lines a block at a time (cut at line ends; line numbers run on across
/// blocks); any other longer one is read whole up to [`MAX_DECOMPRESSED_BYTES`]. The text's
/// buffer is sized, up to a block, from `input_len` when the input is plain and from `gzip_size`
/// (gzip's trailer) when it is gzip.
fn read_stream_blocks(input: &mut dyn Read, input_len: Option<u64>, gzip_size: Option<u64>, sink: &mut dyn EventSink, block: usize) -> Result<u64, ReadError> {
    let mut input = std::io::BufReader::new(input);
    let gzip = std::io::BufRead::fill_buf(&mut input).map_err(|e| ReadError::Io(e.to_string()))?.starts_with(&[0x1f, 0x8b]);
    let text_size = if gzip { gzip_size } else { input_len };
    let mut src: Box<dyn Read + '_> = if gzip { Box::new(flate2::read::MultiGzDecoder::new(input)) } else { Box::new(input) };
    // Out of the stream so far (for gzip's "bytes decompressed before the end").
    let mut out: u64 = 0;
    let mut fill = |src: &mut Box<dyn Read + '_>, buf: &mut Vec<u8>, limit: u64| -> Result<bool, ReadError> {
        let before = buf.len();
        let res = src.take(limit).read_to_end(buf);
        out += (buf.len() - before) as u64;
        match res {
            Ok(_) => Ok(((buf.len() - before) as u64) < limit),
            Err(e) if gzip => Err(gzip_error(&e, out)),
            Err(e) => Err(ReadError::Io(e.to_string())),
        }
    };
    // One more byte than a block, so that a full block does not grow the buffer to twice its size.
    let mut buf = Vec::with_capacity(text_size.map_or(1 << 20, |n| usize::try_from(n).unwrap_or(usize::MAX)).min(block) + 1);
    if fill(&mut src, &mut buf, block as u64)? {
        return read_text(&buf, sink);
    }
    if !first_line_is_a_document(&buf) {
        let rest = MAX_DECOMPRESSED_BYTES + 1 - buf.len() as u64;
        if !fill(&mut src, &mut buf, rest)? {
            return Err(ReadError::TooLarge);
        }
        return read_text(&buf, sink);
    }
    let mut ctx = Ctx { sink, records: 0, cloudtrail: false };
    // Text already handed on (for NotText's offset) and lines so far (for locations).
    let (mut consumed, mut lines, mut at_end) = (0usize, 0usize, false);
    // Once lines were handed on, a failure further on is a break after them (they stay read).
    let broken = |e: ReadError, consumed: usize, records: u64| if consumed == 0 { e } else { ReadError::Broken { records, reason: e.to_string() } };
    loop {
        if !at_end {
            let room = block.saturating_sub(buf.len()).max(1) as u64;
            at_end = fill(&mut src, &mut buf, room).map_err(|e| broken(e, consumed, ctx.records))?;
        }
        let cut = match memchr::memrchr(b'\n', &buf) {
            _ if at_end => buf.len(),
            Some(i) => i + 1,
            None => {
                // One line longer than a block: let it grow, up to the whole-source limit.
                if buf.len() as u64 > MAX_DECOMPRESSED_BYTES {
                    return Err(broken(ReadError::TooLarge, consumed, ctx.records));
                }
                at_end = fill(&mut src, &mut buf, block as u64).map_err(|e| broken(e, consumed, ctx.records))?;
                continue;
            }
        };
        let text = std::str::from_utf8(&buf[..cut]).map_err(|e| broken(ReadError::NotText(consumed + e.valid_up_to()), consumed, ctx.records))?;
        let text = if consumed == 0 { text.trim_start_matches('\u{feff}') } else { text };
        lines += json_lines_from(text, &mut ctx, lines);
        consumed += cut;
        buf.drain(..cut);
        if at_end {
            return finish(ctx);
        }
    }
}

/// Whether a text's first line (after a byte order mark and blank space) is one whole JSON object:
/// the sign of JSON lines.
fn first_line_is_a_document(buf: &[u8]) -> bool {
    let buf = buf.strip_prefix("\u{feff}".as_bytes()).unwrap_or(buf);
    let line = match memchr::memchr(b'\n', buf) {
        Some(i) => &buf[..i],
        None => return false,
    };
    let Ok(line) = std::str::from_utf8(line) else { return false };
    let line = line.trim();
    line.starts_with('{') && serde_json::from_str::<IgnoredAny>(line).is_ok()
}

/// What the reader hands on.
pub(crate) trait EventSink {
    /// One event whose text has an `errorCode`, with its location in the source (`record 12`).
    fn error_event(&mut self, event: &EventRecord<'_>, location: &dyn Fn() -> String);
    /// A record that is not a readable event.
    fn skipped(&mut self, location: String, reason: String);
}

/// Read one source's bytes (streamed: see [`read_stream_blocks`]); the number of records (events,
/// with or without an error) in it.
pub(crate) fn read(bytes: &[u8], sink: &mut dyn EventSink) -> Result<u64, ReadError> {
    read_stream_blocks(&mut &bytes[..], Some(bytes.len() as u64), gzip_size_hint(bytes), sink, STREAM_BLOCK_BYTES)
}

/// Read one source's text (already decompressed).
fn read_text(bytes: &[u8], sink: &mut dyn EventSink) -> Result<u64, ReadError> {
    let text = std::str::from_utf8(bytes).map_err(|e| ReadError::NotText(e.valid_up_to()))?;
    let text = text.trim_start_matches('\u{feff}').trim();
    if text.is_empty() {
        return Err(ReadError::NotCloudTrail("empty".into()));
    }
    if !text.starts_with(['{', '[']) {
        return Err(ReadError::NotJson("does not start with { or [".into()));
    }
    let mut ctx = Ctx { sink, records: 0, cloudtrail: false };
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = Top { ctx: &mut ctx, line: None }.deserialize(&mut de);
    match parsed {
        Ok(top) => match de.end() {
            Ok(()) => {
                top_level(&mut ctx, top, None);
                finish(ctx)
            }
            // Several documents: JSON lines (an event, a lookup item or a Records document per line).
            Err(_) if matches!(top, TopDoc::Fields(_)) => {
                drop(top);
                json_lines(text, &mut ctx);
                finish(ctx)
            }
            Err(e) => Err(ReadError::Broken { records: ctx.records, reason: format!("trailing data: {e}") }),
        },
        Err(e) if ctx.records == 0 && !ctx.cloudtrail => {
            // The first line may be fine and the rest JSON lines with a broken line among them.
            if text.contains('\n') && serde_json::from_str::<&RawValue>(text.lines().next().unwrap_or("")).is_ok() {
                json_lines(text, &mut ctx);
                return finish(ctx);
            }
            Err(ReadError::NotJson(e.to_string()))
        }
        Err(e) => Err(ReadError::Broken { records: ctx.records, reason: e.to_string() }),
    }
}

fn finish(ctx: Ctx<'_>) -> Result<u64, ReadError> {
    if !ctx.cloudtrail {
        return Err(ReadError::NotCloudTrail("no Records, Events or CloudTrail event (eventSource, eventName) in it".into()));
    }
    Ok(ctx.records)
}

fn json_lines(text: &str, ctx: &mut Ctx<'_>) {
    json_lines_from(text, ctx, 0);
}

/// JSON lines whose first line is line `before + 1` of the source; the number of lines read.
fn json_lines_from(text: &str, ctx: &mut Ctx<'_>, before: usize) -> usize {
    let mut count = 0;
    for (i, line) in text.lines().enumerate() {
        count = i + 1;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let n = before + i + 1;
        let mut de = serde_json::Deserializer::from_str(line);
        let res = Top { ctx, line: Some(n) }.deserialize(&mut de).and_then(|top| de.end().map(|_| top));
        match res {
            Ok(top) => top_level(ctx, top, Some(n)),
            Err(e) => ctx.sink.skipped(format!("line {n}"), format!("not valid JSON: {e}")),
        }
    }
    count
}

/// A top-level document that was not a container of records: its fields, raw.
fn top_level(ctx: &mut Ctx<'_>, top: TopDoc<'_>, line: Option<usize>) {
    let TopDoc::Fields(fields) = top else { return };
    let loc = || line.map(|n| format!("line {n}")).unwrap_or_else(|| "event 1".into());
    if fields.iter().any(|(k, _)| k == "CloudTrailEvent") {
        ctx.cloudtrail = true;
        let raw = fields.iter().find(|(k, _)| k == "CloudTrailEvent").map(|(_, v)| *v);
        ctx.lookup_item(raw, &loc);
        return;
    }
    if fields.iter().any(|(k, _)| k == "eventSource" || k == "eventName") {
        ctx.cloudtrail = true;
        ctx.records += 1;
        if !fields.iter().any(|(k, _)| k == "errorCode") {
            return;
        }
        let mut m = Map::new();
        for (k, v) in &fields {
            match serde_json::from_str::<Value>(v.get()) {
                Ok(v) => {
                    m.insert(k.clone(), v);
                }
                Err(e) => return ctx.sink.skipped(loc(), format!("field {k}: {e}")),
            }
        }
        ctx.event(&EventRecord::from_map(&m), &loc);
    } else if line.is_some() {
        ctx.sink.skipped(loc(), "not a CloudTrail event (no eventSource/eventName)".into());
    }
}

struct Ctx<'s> {
    sink: &'s mut dyn EventSink,
    records: u64,
    cloudtrail: bool,
}

impl Ctx<'_> {
    /// One record of a `Records` array (or top-level array).
    fn record(&mut self, raw: &RawValue, loc: &dyn Fn() -> String) {
        self.records += 1;
        let text = raw.get();
        if memchr::memmem::find(text.as_bytes(), b"\"errorCode\"").is_none() {
            if !text.starts_with('{') {
                self.sink.skipped(loc(), format!("not a JSON object but {}", kind_of_text(text)));
            }
            return;
        }
        if !text.starts_with('{') {
            return self.sink.skipped(loc(), "not a JSON object".into());
        }
        match EventRecord::from_json(text) {
            Ok(r) => self.event(&r, loc),
            Err(e) => self.sink.skipped(loc(), format!("not valid JSON: {e}")),
        }
    }

    /// A read event with an errorCode: checked for the fields triage needs, then handed on.
    fn event(&mut self, r: &EventRecord<'_>, loc: &dyn Fn() -> String) {
        match problem(r) {
            Some(reason) => self.sink.skipped(loc(), reason),
            None => self.sink.error_event(r, loc),
        }
    }

    /// One item of lookup-events output: the event is a JSON string (or object) in `CloudTrailEvent`.
    fn lookup_item(&mut self, raw: Option<&RawValue>, loc: &dyn Fn() -> String) {
        self.records += 1;
        let Some(raw) = raw else {
            return self.sink.skipped(loc(), "no CloudTrailEvent".into());
        };
        let inner: Cow<'_, str> = match serde_json::from_str::<Value>(raw.get()) {
            Ok(Value::String(s)) => Cow::Owned(s),
            Ok(Value::Object(_)) => Cow::Borrowed(raw.get()),
            Ok(other) => return self.sink.skipped(loc(), format!("CloudTrailEvent is {}, expected a JSON string", kind_of(&other))),
            Err(e) => return self.sink.skipped(loc(), format!("not valid JSON: {e}")),
        };
        if memchr::memmem::find(inner.as_bytes(), b"\"errorCode\"").is_none() {
            return;
        }
        if !inner.trim_start().starts_with('{') {
            return match serde_json::from_str::<IgnoredAny>(&inner) {
                Ok(_) => self.sink.skipped(loc(), "CloudTrailEvent is not a JSON object".into()),
                Err(e) => self.sink.skipped(loc(), format!("CloudTrailEvent is not valid JSON: {e}")),
            };
        }
        match EventRecord::from_json(&inner) {
            Ok(r) => self.event(&r, loc),
            Err(e) => self.sink.skipped(loc(), format!("CloudTrailEvent is not valid JSON: {e}")),
        }
    }
}

/// Why an event with an errorCode cannot be triaged: the shape explain checks (eventSource,
/// eventName, errorCode strings), and what grouping needs (eventTime, userIdentity).
fn problem(r: &EventRecord<'_>) -> Option<String> {
    let fields = [("eventSource", &r.event_source), ("eventName", &r.event_name), ("errorCode", &r.error_code), ("eventTime", &r.event_time), ("userIdentity", &r.user_identity)];
    for (key, field) in fields {
        let want = if key == "userIdentity" { "an object" } else { "a string" };
        match field.kind() {
            None | Some("null") => return Some(format!("no {key}")),
            Some(kind) if kind == want => {}
            Some(kind) => return Some(format!("{key} is {kind}, expected {want}")),
        }
    }
    None
}

fn kind_of_text(t: &str) -> &'static str {
    match t.as_bytes().first() {
        Some(b'"') => "a string",
        Some(b'[') => "an array",
        Some(b'n') => "null",
        Some(b't' | b'f') => "a boolean",
        _ => "a number",
    }
}

/// What a top-level document turned out to be.
enum TopDoc<'de> {
    /// A container (`Records`, `Events`, an array): its records were handed on while parsing.
    Container,
    /// An object that is not a container: its fields, to be read as one event or a lookup item.
    Fields(Vec<(String, &'de RawValue)>),
    /// Something else (a string, a number).
    Other,
}

struct Top<'c, 's> {
    ctx: &'c mut Ctx<'s>,
    line: Option<usize>,
}

impl<'de> DeserializeSeed<'de> for Top<'_, '_> {
    type Value = TopDoc<'de>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Top<'_, '_> {
    type Value = TopDoc<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a CloudTrail log")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = Vec::new();
        let mut container = false;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "Records" | "Events" if fields.is_empty() || !fields.iter().any(|(k, _): &(String, _)| k == "eventName") => {
                    let lookup = key == "Events";
                    container = true;
                    self.ctx.cloudtrail = true;
                    map.next_value_seed(Records { ctx: self.ctx, lookup, line: self.line })?;
                }
                _ if container => {
                    map.next_value::<IgnoredAny>()?;
                }
                _ => {
                    let v: &'de RawValue = map.next_value()?;
                    fields.push((key, v));
                }
            }
        }
        Ok(if container { TopDoc::Container } else { TopDoc::Fields(fields) })
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Records { ctx: self.ctx, lookup: false, line: self.line }.visit_seq(seq)?;
        Ok(TopDoc::Container)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(TopDoc::Other)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(TopDoc::Other)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(TopDoc::Other)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(TopDoc::Other)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(TopDoc::Other)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(TopDoc::Other)
    }
}

/// The `Records` (or lookup `Events`) array: each element handed on as soon as it is split off.
struct Records<'c, 's> {
    ctx: &'c mut Ctx<'s>,
    lookup: bool,
    line: Option<usize>,
}

impl<'de> DeserializeSeed<'de> for Records<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Records<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of CloudTrail events")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0usize;
        let line = self.line;
        while let Some(raw) = seq.next_element::<&'de RawValue>()? {
            i += 1;
            let loc = || match line {
                Some(n) => format!("line {n} record {i}"),
                None => format!("record {i}"),
            };
            if self.lookup {
                let item: Result<LookupItem<'_>, _> = serde_json::from_str(raw.get());
                match item {
                    Ok(item) => self.ctx.lookup_item(item.event, &loc),
                    Err(e) => {
                        self.ctx.records += 1;
                        self.ctx.sink.skipped(loc(), format!("not a lookup-events item: {e}"));
                    }
                }
            } else {
                self.ctx.record(raw, &loc);
            }
        }
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

#[derive(serde::Deserialize)]
struct LookupItem<'a> {
    #[serde(rename = "CloudTrailEvent", borrow, default)]
    event: Option<&'a RawValue>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Collect {
        events: Vec<String>,
        skipped: Vec<(String, String)>,
    }
    impl EventSink for Collect {
        fn error_event(&mut self, event: &EventRecord<'_>, _: &dyn Fn() -> String) {
            self.events.push(event.event_id.as_str().unwrap_or("").to_string());
        }
        fn skipped(&mut self, location: String, reason: String) {
            self.skipped.push((location, reason));
        }
    }

    fn ev(id: &str, code: Option<&str>) -> Value {
        let mut v = serde_json::json!({"eventVersion": "1.08", "eventTime": "2025-01-01T00:00:00Z", "eventSource": "s3.amazonaws.com",
            "eventName": "GetObject", "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/bob"}, "eventID": id});
        if let Some(c) = code {
            v["errorCode"] = c.into();
        }
        v
    }

    fn run(text: &[u8]) -> (Result<u64, ReadError>, Collect) {
        let mut c = Collect::default();
        let r = read(text, &mut c);
        (r, c)
    }

    fn run_stream(bytes: &[u8], block: usize) -> (Result<u64, ReadError>, Collect) {
        let mut c = Collect::default();
        let r = read_stream_blocks(&mut &bytes[..], None, None, &mut c, block);
        (r, c)
    }

    /// The reference: the whole text decompressed, then read.
    fn run_whole(bytes: &[u8]) -> (Result<u64, ReadError>, Collect) {
        let mut c = Collect::default();
        let r = decompress(bytes).and_then(|text| read_text(&text, &mut c));
        (r, c)
    }

    fn gz(bytes: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    /// JSON lines: events with and without errors, lookup items, a Records document, blank and
    /// broken lines, a long line, CRLF ends.
    fn mixed_lines() -> String {
        let mut text = String::new();
        for i in 0..40 {
            let line = match i % 8 {
                0 => ev(&format!("a{i}"), Some("AccessDenied")).to_string(),
                1 => ev(&format!("b{i}"), None).to_string(),
                2 => serde_json::json!({"EventId": format!("l{i}"), "CloudTrailEvent": ev(&format!("c{i}"), Some("AccessDenied")).to_string()}).to_string(),
                3 => serde_json::json!({"Records": [ev(&format!("r{i}"), Some("UnauthorizedOperation")), ev(&format!("s{i}"), None)]}).to_string(),
                4 => String::new(),
                5 => format!("{{\"eventID\": \"broken{i}\""),
                6 => {
                    let mut e = ev(&format!("long{i}"), Some("AccessDenied"));
                    e["requestParameters"] = serde_json::json!({"padding": "x".repeat(3000)});
                    e.to_string()
                }
                _ => format!("{}\r", ev(&format!("d{i}"), Some("AccessDeniedException"))),
            };
            text.push_str(&line);
            text.push('\n');
        }
        text
    }

    #[test]
    fn streamed_sources_read_as_their_whole_bytes_are() {
        let lines = mixed_lines();
        let records = serde_json::json!({"Records": (0..30).map(|i| ev(&format!("e{i}"), (i % 3 == 0).then_some("AccessDenied"))).collect::<Vec<_>>()}).to_string();
        let no_final_newline = lines.trim_end().to_string();
        let with_bom = format!("\u{feff}{lines}");
        let not_cloudtrail = "{\"a\": 1}\n".repeat(200);
        for text in [&lines, &records, &no_final_newline, &with_bom, &not_cloudtrail] {
            for bytes in [text.as_bytes().to_vec(), gz(text.as_bytes())] {
                let (whole, wc) = run_whole(&bytes);
                let (read, rc) = run(&bytes);
                assert_eq!((&read, &rc.events, &rc.skipped), (&whole, &wc.events, &wc.skipped));
                for block in [1, 100, 350, 1000, 4096, 1 << 20] {
                    let (streamed, sc) = run_stream(&bytes, block);
                    assert_eq!(streamed, whole, "block {block}");
                    assert_eq!((&sc.events, &sc.skipped), (&wc.events, &wc.skipped), "block {block}");
                }
            }
        }
        // The line numbers run on across blocks.
        let (_, c) = run_stream(lines.as_bytes(), 350);
        assert!(c.skipped.iter().any(|(loc, _)| loc == "line 38"), "{:?}", c.skipped);
    }

    #[test]
    fn a_stream_broken_after_some_lines_keeps_them() {
        let lines = mixed_lines();
        let whole = gz(lines.as_bytes());
        // Truncated gzip: read whole, nothing; streamed, the lines before the break.
        let cut = &whole[..whole.len() * 2 / 3];
        assert!(matches!(run_whole(cut).0, Err(ReadError::Gzip(_))));
        let (r, c) = run_stream(cut, 350);
        let Err(ReadError::Broken { records, reason }) = r else { panic!("{r:?}") };
        assert!(records > 0 && !c.events.is_empty() && reason.contains("truncated"), "{records} {reason}");
        // A byte that is not UTF-8 further on: the offset is the source's.
        let mut bad = lines.clone().into_bytes();
        let at = lines.len() - 100;
        bad[at] = 0xff;
        assert_eq!(run_whole(&bad).0, Err(ReadError::NotText(at)));
        let (r, _) = run_stream(&bad, 350);
        let Err(ReadError::Broken { reason, .. }) = r else { panic!("{r:?}") };
        assert!(reason.contains(&format!("offset {at}")), "{reason}");
        // Before anything was handed on, the error is the source's own.
        assert_eq!(run_stream(&bad[..at + 1], 1 << 20).0, Err(ReadError::NotText(at)));
    }

    #[test]
    fn records_file_hands_on_only_error_events() {
        let doc = serde_json::json!({"Records": [ev("a", None), ev("b", Some("AccessDenied")), ev("c", None)]});
        let (r, c) = run(doc.to_string().as_bytes());
        assert_eq!(r, Ok(3));
        assert_eq!(c.events, vec!["b"]);
    }

    #[test]
    fn lookup_events_output_json_lines_and_single_event() {
        let inner = ev("x", Some("AccessDenied")).to_string();
        let doc = serde_json::json!({"Events": [{"EventId": "x", "CloudTrailEvent": inner}], "NextToken": "t"});
        let (r, c) = run(doc.to_string().as_bytes());
        assert_eq!((r, c.events), (Ok(1), vec!["x".to_string()]));

        let lines = format!("{}\n{}\nnot json\n", ev("l1", Some("AccessDenied")), ev("l2", Some("Client.UnauthorizedOperation")));
        let (r, c) = run(lines.as_bytes());
        assert_eq!(r, Ok(2));
        assert_eq!(c.events, vec!["l1", "l2"]);
        assert_eq!(c.skipped.len(), 1, "{:?}", c.skipped);
        assert_eq!(c.skipped[0].0, "line 3");

        let (r, c) = run(ev("one", Some("AccessDenied")).to_string().as_bytes());
        assert_eq!((r, c.events), (Ok(1), vec!["one".to_string()]));
    }

    #[test]
    fn gzip_and_its_truncation() {
        use std::io::Write;
        let doc = serde_json::json!({"Records": [ev("g", Some("AccessDenied"))]}).to_string();
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(doc.as_bytes()).unwrap();
        let gz = enc.finish().unwrap();
        let (r, c) = run(&gz);
        assert_eq!((r, c.events), (Ok(1), vec!["g".to_string()]));
        let (r, _) = run(&gz[..gz.len() / 2]);
        assert!(matches!(r, Err(ReadError::Gzip(ref m)) if m.contains("truncated")), "{r:?}");
    }

    #[test]
    fn not_cloudtrail_and_missing_fields() {
        let (r, _) = run(br#"{"name": "package.json", "version": "1"}"#);
        assert!(matches!(r, Err(ReadError::NotCloudTrail(_))), "{r:?}");
        let (r, _) = run(b"hello world");
        assert!(matches!(r, Err(ReadError::NotJson(_))), "{r:?}");
        let mut no_time = ev("t", Some("AccessDenied"));
        no_time.as_object_mut().unwrap().remove("eventTime");
        let mut no_name = ev("n", Some("AccessDenied"));
        no_name.as_object_mut().unwrap().remove("eventName");
        let doc = serde_json::json!({"Records": [no_time, no_name, 7, ev("ok", Some("AccessDenied"))]});
        let (r, c) = run(doc.to_string().as_bytes());
        assert_eq!(r, Ok(4));
        assert_eq!(c.events, vec!["ok"]);
        let reasons: Vec<&str> = c.skipped.iter().map(|(_, r)| r.as_str()).collect();
        assert_eq!(reasons, vec!["no eventTime", "no eventName", "not a JSON object but a number"]);
        let (r, c) = run(br#"{"Records": [{"eventSource": "s3.amazonaws.com", "eventName": "GetObject", "errorCode": "AccessDenied", "eventTime": "2025-01-01T00:00:00Z", "userIdentity": {}}, {"eventSo"#);
        assert!(matches!(r, Err(ReadError::Broken { records: 1, .. })), "{r:?}");
        assert_eq!(c.events.len(), 1);
    }
}
