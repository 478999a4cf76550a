//! The `reply` of the result span, with `JSON.parse`'s answer and bounded memory.
//!
//! The host's TypeScript runner does `JSON.parse(span.trim()).reply ?? "Done."`.
//! Building a `serde_json::Value` of the span instead cost ~40x the span in
//! memory (a 10 MB array: +392 MiB) and answered differently from `JSON.parse`
//! (nesting past 128 levels, `1e400`, lone surrogate escapes such as `"\ud83d"`,
//! which `JSON.stringify` writes when an agent cuts text mid-emoji).
//!
//! This module validates the span with an iterative scanner (no recursion, no
//! tree: nesting is one bit per level) that accepts exactly what `JSON.parse`
//! accepts, remembers where the top-level object's last `reply` member is, and
//! decodes only that value, once the whole span is known to be valid. It takes
//! the span and decodes the reply in the span's own buffer: a 10 MB reply is
//! held once, not as the span plus a decoded copy (issue 18).

use std::ops::Range;

use crate::core::js_string::js_prefix;

/// How many UTF-16 units of the trimmed span the Malformed message quotes.
pub(crate) const MALFORMED_QUOTE_UNITS: usize = 200;

/// A non-string `reply` at most this long is re-serialised through
/// `serde_json::Value`; a longer one (whose tree would cost
/// tens of times its size) is given as its own text with JSON whitespace removed.
pub(crate) const REPLY_VALUE_REPARSE_MAX_BYTES: usize = 64 * 1024;

/// The reply as the host should receive it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReplyText {
    /// Any reply that is valid Unicode.
    Utf8(String),
    /// A string reply holding a lone surrogate (`"\ud83d"`): these UTF-16 code
    /// units are the exact JS string `JSON.parse` gives; create it with
    /// `napi_create_string_utf16` (UTF-8 cannot carry a lone surrogate).
    Utf16(Vec<u16>),
}

impl ReplyText {
    /// The text as a Rust string; a lone surrogate becomes U+FFFD: what the
    /// tests compare (the binding hands UTF-16 to JavaScript as it is).
    #[cfg(test)]
    pub(crate) fn into_string_lossy(self) -> String {
        match self {
            ReplyText::Utf8(text) => text,
            ReplyText::Utf16(units) => String::from_utf16_lossy(&units),
        }
    }
}

/// `String.prototype.trim()`: JS WhiteSpace and LineTerminator at both ends.
/// Unlike `str::trim` it removes U+FEFF (a BOM) and keeps U+0085.
#[cfg(test)]
pub(crate) fn js_trim(text: &str) -> &str {
    text.trim_matches(is_js_whitespace)
}

/// `String.prototype.trim()` in `text`'s own buffer (a span may be 16 MiB):
/// JS WhiteSpace and LineTerminator at both ends; unlike `str::trim` it
/// removes U+FEFF (a BOM) and keeps U+0085. The end is cut off and what
/// remains moves to the front (no move when nothing leads).
pub(crate) fn js_trim_in_place(text: &mut String) {
    let end = text.trim_end_matches(is_js_whitespace).len();
    text.truncate(end);
    let start = end - text.trim_start_matches(is_js_whitespace).len();
    text.drain(..start);
}

fn is_js_whitespace(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{B}' | '\u{C}' | '\r' | ' ' | '\u{A0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200A}' | '\u{2028}' | '\u{2029}' | '\u{202F}' | '\u{205F}' | '\u{3000}' | '\u{FEFF}'
    )
}

/// `JSON.parse(span_text.trim()).reply ?? "Done."`:
/// - not JSON: `Err` with the Malformed message body (the first
///   [`MALFORMED_QUOTE_UNITS`] UTF-16 units of the trimmed text);
/// - top level not an object, `reply` absent or null: `"Done."`;
/// - `reply` a string: its exact content (the last `reply` member wins, as in JS);
/// - `reply` any other value: its compact JSON text, as `serde_json::Value::to_string`
///   gave before (`42`, `true`, `{"a":[1,2]}`); past [`REPLY_VALUE_REPARSE_MAX_BYTES`],
///   or where serde would have rejected it (deeper than 128, `1e400`), the value's
///   own text without JSON whitespace, since the host expects a string anyway.
///
/// Memory: the span is taken, not borrowed, and the reply is made in its
/// buffer (a string decoded, a large value compacted, in place), so besides
/// the span there is one bit per nesting level while scanning, and a small
/// value's re-serialisation. Only a lone surrogate, which forces UTF-16,
/// makes a new buffer (at most twice the span).
pub(crate) fn reply_of(mut text: String) -> Result<ReplyText, String> {
    js_trim_in_place(&mut text);
    let Some(found) = scan(text.as_bytes()) else {
        return Err(js_prefix(&text, MALFORMED_QUOTE_UNITS).to_owned());
    };
    Ok(match found {
        Found::Absent | Found::Null => ReplyText::Utf8("Done.".to_owned()),
        Found::Str(range) => decode_string(text, range),
        Found::Other(range) => ReplyText::Utf8(compact_value(text, range)),
    })
}

/// Where the top-level object's last `reply` value is in the scanned text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Found {
    /// No `reply` member, or the top level is not an object.
    Absent,
    Null,
    /// A string: the range of its raw content, between the quotes.
    Str(Range<usize>),
    /// A number, boolean, object or array: the range of its text.
    Other(Range<usize>),
}

/// The nesting stack: one bit per level (1 = object), so even 16 MiB of `[`
/// costs 2 MiB, and no level is a stack frame.
#[derive(Default)]
struct Nesting {
    words: Vec<u64>,
    depth: usize,
}

impl Nesting {
    fn push(&mut self, object: bool) {
        let (word, bit) = (self.depth / 64, self.depth % 64);
        if word == self.words.len() {
            self.words.push(0);
        }
        if let Some(w) = self.words.get_mut(word) {
            if object {
                *w |= 1 << bit;
            } else {
                *w &= !(1 << bit);
            }
        }
        self.depth += 1;
    }

    fn pop(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// Whether the innermost open container is an object; `None` at top level.
    fn top_is_object(&self) -> Option<bool> {
        let at = self.depth.checked_sub(1)?;
        self.words.get(at / 64).map(|w| w & (1 << (at % 64)) != 0)
    }
}

/// Validates `text` as `JSON.parse` does (after the trim) and finds the
/// top-level `reply`; `None` when `JSON.parse` would throw.
fn scan(t: &[u8]) -> Option<Found> {
    let mut nesting = Nesting::default();
    let mut found = Found::Absent;
    // Set after a top-level `"reply":`; the value starting next is the reply.
    let mut reply_key = false;
    // Where the reply value being scanned began; it ends when the scan is back at depth 1.
    let mut reply_start: Option<usize> = None;
    let mut i = 0;
    loop {
        // A value starts here.
        i = skip_ws(t, i);
        if std::mem::take(&mut reply_key) {
            reply_start = Some(i);
        }
        match *t.get(i)? {
            b'{' => {
                i = skip_ws(t, i + 1);
                if t.get(i) == Some(&b'}') {
                    i += 1;
                } else {
                    nesting.push(true);
                    (i, reply_key) = member_key(t, i, nesting.depth == 1)?;
                    continue;
                }
            }
            b'[' => {
                i = skip_ws(t, i + 1);
                if t.get(i) == Some(&b']') {
                    i += 1;
                } else {
                    nesting.push(false);
                    continue;
                }
            }
            b'"' => i = string_end(t, i)?,
            b'-' | b'0'..=b'9' => i = number_end(t, i)?,
            b't' => i = literal_end(t, i, b"true")?,
            b'f' => i = literal_end(t, i, b"false")?,
            b'n' => i = literal_end(t, i, b"null")?,
            _ => return None,
        }
        // A value ended at `i`: close containers until the next value starts.
        loop {
            if nesting.depth == 1 {
                if let Some(start) = reply_start.take() {
                    found = classify(t, start..i);
                }
            }
            i = skip_ws(t, i);
            match nesting.top_is_object() {
                None => return (i == t.len()).then_some(found),
                Some(true) => match *t.get(i)? {
                    b',' => {
                        (i, reply_key) = member_key(t, skip_ws(t, i + 1), nesting.depth == 1)?;
                        break;
                    }
                    b'}' => {
                        i += 1;
                        nesting.pop();
                    }
                    _ => return None,
                },
                Some(false) => match *t.get(i)? {
                    b',' => {
                        i += 1;
                        break;
                    }
                    b']' => {
                        i += 1;
                        nesting.pop();
                    }
                    _ => return None,
                },
            }
        }
    }
}

/// A member's key at `i` and the `:` after it: the index after the colon, and
/// whether the key is `reply` in the top-level object.
fn member_key(t: &[u8], i: usize, top_level: bool) -> Option<(usize, bool)> {
    if t.get(i) != Some(&b'"') {
        return None;
    }
    let end = string_end(t, i)?;
    let is_reply = top_level && t.get(i + 1..end - 1).is_some_and(is_reply_key);
    let colon = skip_ws(t, end);
    (t.get(colon) == Some(&b':')).then_some((colon + 1, is_reply))
}

/// Whether a key's raw (validated) content decodes to `reply`; escapes such as
/// `"\u0072eply"` count, as they do for `JSON.parse`.
fn is_reply_key(raw: &[u8]) -> bool {
    const REPLY: &[u8] = b"reply";
    if !raw.contains(&b'\\') {
        return raw == REPLY;
    }
    // Each of the 5 letters is at most a 6-byte escape.
    if raw.len() > 6 * REPLY.len() {
        return false;
    }
    let Ok(raw) = std::str::from_utf8(raw) else {
        return false;
    };
    utf16_units(raw).into_iter().eq(REPLY.iter().map(|&b| u16::from(b)))
}

fn classify(t: &[u8], range: Range<usize>) -> Found {
    match t.get(range.start) {
        Some(b'"') => Found::Str(range.start + 1..range.end - 1),
        Some(b'n') => Found::Null,
        _ => Found::Other(range),
    }
}

/// JSON whitespace only: inside the text `JSON.parse` takes no other.
fn skip_ws(t: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = t.get(i) {
        i += 1;
    }
    i
}

/// The index after the string starting with the quote at `i`.
fn string_end(t: &[u8], mut i: usize) -> Option<usize> {
    i += 1;
    loop {
        match *t.get(i)? {
            b'"' => return Some(i + 1),
            b'\\' => match *t.get(i + 1)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                b'u' => {
                    if !t.get(i + 2..i + 6)?.iter().all(u8::is_ascii_hexdigit) {
                        return None;
                    }
                    i += 6;
                }
                _ => return None,
            },
            0..=0x1F => return None,
            _ => i += 1,
        }
    }
}

/// The index after the number starting at `i`:
/// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, any magnitude.
fn number_end(t: &[u8], mut i: usize) -> Option<usize> {
    let digits = |mut i: usize| {
        let start = i;
        while t.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        (i > start).then_some(i)
    };
    if t.get(i) == Some(&b'-') {
        i += 1;
    }
    i = match *t.get(i)? {
        b'0' => i + 1,
        b'1'..=b'9' => digits(i)?,
        _ => return None,
    };
    if t.get(i) == Some(&b'.') {
        i = digits(i + 1)?;
    }
    if let Some(b'e' | b'E') = t.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = t.get(i) {
            i += 1;
        }
        i = digits(i)?;
    }
    Some(i)
}

fn literal_end(t: &[u8], i: usize, word: &[u8]) -> Option<usize> {
    t.get(i..)?.starts_with(word).then_some(i + word.len())
}

/// A decoded part of a JSON string's content.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// Unescaped text: a range of the buffer being walked.
    Text(Range<usize>),
    /// An escape, or a surrogate pair of escapes, that is a Unicode scalar value.
    Char(char),
    /// A surrogate escape with no partner next to it.
    Lone(u16),
}

/// Decodes a validated string's raw content in order, one piece per call to
/// [`Walk::next`]. A high surrogate escape immediately followed by a low one
/// is one character, as adjacent code units in a JS string are; any other
/// surrogate escape is lone. It holds positions, not a borrow, so that a
/// caller may write decoded pieces into the same buffer behind it.
struct Walk {
    /// Where the unescaped run not given out yet starts (or the next escape is).
    at: usize,
    end: usize,
    pending_high: Option<u16>,
    /// A piece decoded together with the one just given out.
    queued: Option<Piece>,
}

impl Walk {
    fn new(raw: Range<usize>) -> Self {
        Self { at: raw.start, end: raw.end, pending_high: None, queued: None }
    }

    /// The next piece of `b[raw]`; `b` must be the buffer the range was taken in.
    fn next(&mut self, b: &[u8]) -> Option<Piece> {
        if let Some(piece) = self.queued.take() {
            return Some(piece);
        }
        loop {
            let escape = b.get(self.at..self.end)?.iter().position(|&c| c == b'\\').map(|p| self.at + p);
            let run_end = escape.unwrap_or(self.end);
            if self.at < run_end || escape.is_none() {
                // A high surrogate escape followed by text (or nothing) is lone.
                if let Some(high) = self.pending_high.take() {
                    return Some(Piece::Lone(high));
                }
                if self.at == run_end {
                    return None;
                }
                let run = self.at..run_end;
                self.at = run_end;
                return Some(Piece::Text(run));
            }
            let i = self.at;
            let (unit, len) = match b.get(i + 1)? {
                b'b' => (0x08, 2),
                b'f' => (0x0C, 2),
                b'n' => (0x0A, 2),
                b'r' => (0x0D, 2),
                b't' => (0x09, 2),
                // Not reached with bad hex: the scanner validated the escape.
                b'u' => (
                    std::str::from_utf8(b.get(i + 2..i + 6)?).ok().and_then(|hex| u16::from_str_radix(hex, 16).ok())?,
                    6,
                ),
                &c => (u16::from(c), 2), // \" \\ \/
            };
            self.at = i + len;
            match unit {
                0xD800..=0xDBFF => {
                    if let Some(high) = self.pending_high.replace(unit) {
                        return Some(Piece::Lone(high));
                    }
                }
                0xDC00..=0xDFFF => {
                    return Some(match self.pending_high.take() {
                        Some(high) => {
                            let c = 0x10000 + ((u32::from(high) - 0xD800) << 10) + (u32::from(unit) - 0xDC00);
                            char::from_u32(c).map_or(Piece::Lone(unit), Piece::Char)
                        }
                        None => Piece::Lone(unit),
                    })
                }
                _ => {
                    // Not a surrogate, so always a char.
                    let c = char::from_u32(u32::from(unit)).map(Piece::Char);
                    match self.pending_high.take() {
                        Some(high) => {
                            self.queued = c;
                            return Some(Piece::Lone(high));
                        }
                        None if c.is_some() => return c,
                        None => {}
                    }
                }
            }
        }
    }
}

/// The pieces of a validated string's raw content.
fn pieces(raw: &str) -> impl Iterator<Item = Piece> + '_ {
    let mut walk = Walk::new(0..raw.len());
    std::iter::from_fn(move || walk.next(raw.as_bytes()))
}

/// The string reply whose raw content is `text[raw]`, decoded in `text`'s own
/// buffer: no escape is shorter than what it decodes to, so the decoded bytes,
/// written from the buffer's start, never overtake the raw ones still to be
/// read. Only a lone surrogate (UTF-16 needed) makes a new buffer.
fn decode_string(text: String, raw: Range<usize>) -> ReplyText {
    let mut walk = Walk::new(raw.clone());
    while let Some(piece) = walk.next(text.as_bytes()) {
        if matches!(piece, Piece::Lone(_)) {
            return ReplyText::Utf16(utf16_units(text.get(raw).unwrap_or_default()));
        }
    }
    let mut bytes = text.into_bytes();
    let mut written = 0;
    let mut walk = Walk::new(raw);
    while let Some(piece) = walk.next(&bytes) {
        match piece {
            Piece::Text(run) => {
                let len = run.len();
                bytes.copy_within(run, written);
                written += len;
            }
            Piece::Char(c) => {
                let mut utf8 = [0; 4];
                let utf8 = c.encode_utf8(&mut utf8).as_bytes();
                bytes[written..written + utf8.len()].copy_from_slice(utf8);
                written += utf8.len();
            }
            Piece::Lone(_) => {} // not reached: checked above
        }
    }
    ReplyText::Utf8(into_text(bytes, written))
}

/// The first `len` bytes of `bytes` as the reply's text; the buffer is given
/// back to the allocator when most of it is no longer needed (shrinking
/// reallocates in place in the allocators this runs on).
fn into_text(mut bytes: Vec<u8>, len: usize) -> String {
    bytes.truncate(len);
    if bytes.len() < bytes.capacity() / 2 {
        bytes.shrink_to_fit();
    }
    // Always valid: UTF-8 runs were moved whole and escapes encoded as chars.
    String::from_utf8(bytes).unwrap_or_else(|invalid| String::from_utf8_lossy(invalid.as_bytes()).into_owned())
}

/// A string reply with a lone surrogate, as the UTF-16 code units
/// `JSON.parse` gives. Sized in a first pass, so allocated once at its exact length.
fn utf16_units(raw: &str) -> Vec<u16> {
    let len = pieces(raw)
        .map(|piece| match piece {
            Piece::Text(run) => raw.get(run).map_or(0, |s| s.encode_utf16().count()),
            Piece::Char(c) => c.len_utf16(),
            Piece::Lone(_) => 1,
        })
        .sum();
    let mut units = Vec::with_capacity(len);
    for piece in pieces(raw) {
        match piece {
            Piece::Text(run) => units.extend(raw.get(run).unwrap_or_default().encode_utf16()),
            Piece::Char(c) => units.extend_from_slice(c.encode_utf16(&mut [0; 2])),
            Piece::Lone(u) => units.push(u),
        }
    }
    units
}

/// A non-string reply's text, `text[raw]`, as `serde_json::Value::to_string`
/// wrote it before when that is affordable and possible; else the value's own
/// text with the whitespace between tokens removed, in `text`'s own buffer.
fn compact_value(text: String, raw: Range<usize>) -> String {
    if raw.len() <= REPLY_VALUE_REPARSE_MAX_BYTES {
        if let Some(value) = text.get(raw.clone()).and_then(|raw| serde_json::from_str::<serde_json::Value>(raw).ok()) {
            return value.to_string();
        }
    }
    // Byte by byte: every byte looked at is ASCII, and no byte of a multi-byte
    // UTF-8 sequence is, so sequences are copied whole.
    let mut bytes = text.into_bytes();
    let mut written = 0;
    let (mut in_string, mut escaped) = (false, false);
    for i in raw {
        let b = bytes[i];
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if b == b'"' {
            in_string = true;
        } else if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            continue;
        }
        bytes[written] = b;
        written += 1;
    }
    into_text(bytes, written)
}

#[cfg(test)]
pub(crate) mod tests;
