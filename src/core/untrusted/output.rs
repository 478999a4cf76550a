//! Reads the agent's output as it streams: finds the result span between the
//! markers and keeps only bounded heads of stdout and stderr for error text.

use super::result_json::js_trim_in_place;

pub(crate) const START_MARKER: &[u8] = b"---MERCURY_CONTAINER_RESULT_START---";
pub(crate) const END_MARKER: &[u8] = b"---MERCURY_CONTAINER_RESULT_END---";

/// How much of each stream is kept for error messages. The contract's messages
/// use the first 500 (error) or 200 (malformed) characters; the parse error
/// quotes stdout whole, which a chatty agent must not be allowed to make unbounded.
pub(crate) const KEPT_HEAD_BYTES: usize = 64 * 1024;

/// The largest result span accepted between the markers.
pub(crate) const MAX_RESULT_BYTES: usize = 16 * 1024 * 1024;

/// A span body longer than this reserves room for the largest span at once,
/// so that growing it never copies a large body (held twice while copied:
/// 8 MiB more at the step past 8 MiB). Pages of the reservation not written
/// are never resident; below this, a reply pays nothing for the bound.
const RESERVE_WHOLE_SPAN_PAST: usize = 1024 * 1024;

#[derive(Debug)]
enum Span {
    /// Looking for START; `carry` holds the bytes of the stream's tail that
    /// could still be the beginning of a marker split across chunks.
    SeekingStart { carry: Vec<u8> },
    /// Inside the span; `body` may end with a partial END marker.
    Inside { body: Vec<u8> },
    /// The first complete span, still raw.
    Found { body: Vec<u8> },
    /// The span grew past [`MAX_RESULT_BYTES`] without an END.
    Overflowed,
    /// The found span was handed over by [`OutputScanner::take_result`];
    /// what follows is ignored, as after `Found`.
    Taken,
}

/// A bounded prefix of one stream.
#[derive(Debug, Default)]
pub(crate) struct Head {
    bytes: Vec<u8>,
    dropped: u64,
}

impl Head {
    fn push(&mut self, chunk: &[u8]) {
        let room = KEPT_HEAD_BYTES.saturating_sub(self.bytes.len());
        let take = room.min(chunk.len());
        self.bytes.extend_from_slice(&chunk[..take]);
        self.dropped += (chunk.len() - take) as u64;
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The kept text (invalid UTF-8 replaced, as Node decodes it), with a note
    /// saying how much was not kept.
    pub(crate) fn text(&self) -> String {
        let mut text = String::from_utf8_lossy(&self.bytes).into_owned();
        if self.dropped > 0 {
            text.push_str(&format!("\n[... {} more bytes of output not kept]", self.dropped));
        }
        text
    }
}

/// Consumes stdout and stderr chunks in any sizes.
#[derive(Debug)]
pub(crate) struct OutputScanner {
    span: Span,
    pub stdout: Head,
    pub stderr: Head,
}

impl Default for OutputScanner {
    fn default() -> Self {
        Self { span: Span::SeekingStart { carry: Vec::new() }, stdout: Head::default(), stderr: Head::default() }
    }
}

impl OutputScanner {
    pub(crate) fn push_stdout(&mut self, chunk: &[u8]) {
        self.stdout.push(chunk);
        match &mut self.span {
            Span::SeekingStart { carry } => {
                let mut window = std::mem::take(carry);
                window.extend_from_slice(chunk);
                if let Some(at) = find(&window, START_MARKER) {
                    self.span = Span::Inside { body: Vec::new() };
                    self.push_span_bytes(&window[at + START_MARKER.len()..]);
                } else {
                    let keep = partial_suffix(&window, START_MARKER);
                    window.drain(..window.len() - keep);
                    *carry = window;
                }
            }
            Span::Inside { .. } => self.push_span_bytes(chunk),
            Span::Found { .. } | Span::Overflowed | Span::Taken => {}
        }
    }

    fn push_span_bytes(&mut self, bytes: &[u8]) {
        let Span::Inside { body } = &mut self.span else {
            return;
        };
        // Only the new bytes plus a marker's length of old ones can hold the first END.
        let search_from = body.len().saturating_sub(END_MARKER.len() - 1);
        let whole = MAX_RESULT_BYTES + END_MARKER.len();
        if body.len() + bytes.len() > RESERVE_WHOLE_SPAN_PAST && body.capacity() < whole {
            body.reserve_exact(whole.saturating_sub(body.len()).max(bytes.len()));
        }
        body.extend_from_slice(bytes);
        if let Some(at) = find(&body[search_from..], END_MARKER) {
            let mut found = std::mem::take(body);
            found.truncate(search_from + at);
            self.span = Span::Found { body: found };
        } else if body.len() > MAX_RESULT_BYTES + END_MARKER.len() {
            self.span = Span::Overflowed;
        }
    }

    pub(crate) fn push_stderr(&mut self, chunk: &[u8]) {
        self.stderr.push(chunk);
    }

    /// Forgets any result span seen so far, whole or begun, and looks for the
    /// first START from the next byte on; the heads stay, for error text. A
    /// claimed standby's turn calls it at the claim: what its agent printed
    /// before it had the payload belongs to no turn.
    pub(crate) fn forget_result(&mut self) {
        self.span = Span::SeekingStart { carry: Vec::new() };
    }

    /// The text between the first START and the first END after it, trimmed
    /// as JavaScript's `trim()` does (a BOM goes, U+0085 stays), so what
    /// `JSON.parse` then sees is what the host's runner would give it.
    ///
    /// The span's own buffer becomes the text, so a large result is held once,
    /// not twice (issue 18); only invalid UTF-8 is copied, to be replaced. The
    /// span is then gone: a second call finds it [`ResultSpan::Missing`].
    pub(crate) fn take_result(&mut self) -> ResultSpan {
        match &mut self.span {
            Span::Found { body } => {
                let body = std::mem::take(body);
                self.span = Span::Taken;
                ResultSpan::Text(span_text(body))
            }
            Span::Overflowed => ResultSpan::TooLarge,
            _ => ResultSpan::Missing,
        }
    }

    /// What [`Self::take_result`] would give, leaving the span where it is.
    #[cfg(test)]
    pub(crate) fn result(&self) -> ResultSpan {
        match &self.span {
            Span::Found { body } => ResultSpan::Text(span_text(body.clone())),
            Span::Overflowed => ResultSpan::TooLarge,
            _ => ResultSpan::Missing,
        }
    }
}

/// The span's bytes as trimmed text in their own buffer. Invalid UTF-8 is
/// replaced as Node decodes it, which takes a copy: U+FFFD is longer than the
/// byte it replaces.
fn span_text(body: Vec<u8>) -> String {
    let mut text =
        String::from_utf8(body).unwrap_or_else(|invalid| String::from_utf8_lossy(invalid.as_bytes()).into_owned());
    js_trim_in_place(&mut text);
    text
}

/// What stood between the markers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ResultSpan {
    Text(String),
    Missing,
    TooLarge,
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if haystack.len() < needle.len() {
        return None;
    }
    let first = needle[0];
    let last_start = haystack.len() - needle.len();
    let mut i = 0;
    while i <= last_start {
        match haystack[i..=last_start].iter().position(|&b| b == first) {
            None => return None,
            Some(off) => {
                let at = i + off;
                if &haystack[at..at + needle.len()] == needle {
                    return Some(at);
                }
                i = at + 1;
            }
        }
    }
    None
}

/// Length of the longest suffix of `haystack` that is a proper prefix of `needle`.
fn partial_suffix(haystack: &[u8], needle: &[u8]) -> usize {
    let max = (needle.len() - 1).min(haystack.len());
    (1..=max).rev().find(|&n| haystack[haystack.len() - n..] == needle[..n]).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_in_chunks(stdout: &[u8], chunk: usize) -> OutputScanner {
        let mut s = OutputScanner::default();
        for part in stdout.chunks(chunk.max(1)) {
            s.push_stdout(part);
        }
        s
    }

    fn framed(reply: &str) -> Vec<u8> {
        format!("booting\n---MERCURY_CONTAINER_RESULT_START---\n{reply}\n---MERCURY_CONTAINER_RESULT_END---\nbye\n")
            .into_bytes()
    }

    #[test]
    fn finds_the_span_whatever_the_chunk_size() {
        let out = framed(r#"{"reply":"hi"}"#);
        for chunk in 1..=out.len() {
            let s = scan_in_chunks(&out, chunk);
            assert_eq!(s.result(), ResultSpan::Text(r#"{"reply":"hi"}"#.into()), "chunk {chunk}");
        }
    }

    #[test]
    fn first_start_and_first_end_after_it_win() {
        let out = b"x ---MERCURY_CONTAINER_RESULT_END--- ---MERCURY_CONTAINER_RESULT_START--- one ---MERCURY_CONTAINER_RESULT_END--- ---MERCURY_CONTAINER_RESULT_START--- two ---MERCURY_CONTAINER_RESULT_END---";
        for chunk in [1, 3, 7, 1000] {
            assert_eq!(scan_in_chunks(out, chunk).result(), ResultSpan::Text("one".into()));
        }
    }

    #[test]
    fn start_without_end_or_nothing_at_all_is_missing() {
        assert_eq!(scan_in_chunks(b"---MERCURY_CONTAINER_RESULT_START--- {}", 4).result(), ResultSpan::Missing);
        assert_eq!(scan_in_chunks(b"plain text", 4).result(), ResultSpan::Missing);
        assert_eq!(OutputScanner::default().result(), ResultSpan::Missing);
    }

    #[test]
    fn markers_sharing_bytes_are_not_confused() {
        // A false start ("---MERCURY_CONTAINER_RESULT_S") right before the real one.
        let out = b"---MERCURY_CONTAINER_RESULT_S---MERCURY_CONTAINER_RESULT_START---ok---MERCURY_CONTAINER_RESULT_EN---MERCURY_CONTAINER_RESULT_END---";
        for chunk in 1..=out.len() {
            assert_eq!(
                scan_in_chunks(out, chunk).result(),
                ResultSpan::Text("ok---MERCURY_CONTAINER_RESULT_EN".into())
            );
        }
    }

    #[test]
    fn invalid_utf8_is_replaced_not_fatal() {
        let mut out = b"---MERCURY_CONTAINER_RESULT_START---".to_vec();
        out.extend_from_slice(&[0xff, 0xfe, b'a']);
        out.extend_from_slice(b"---MERCURY_CONTAINER_RESULT_END---");
        assert_eq!(scan_in_chunks(&out, 5).result(), ResultSpan::Text("\u{fffd}\u{fffd}a".into()));
    }

    #[test]
    fn heads_are_bounded_and_say_what_was_dropped() {
        let mut s = OutputScanner::default();
        let noise = vec![b'y'; 10_000];
        for _ in 0..100 {
            s.push_stdout(&noise);
            s.push_stderr(&noise);
        }
        s.push_stdout(&framed(r#"{"reply":"after noise"}"#));
        assert_eq!(s.result(), ResultSpan::Text(r#"{"reply":"after noise"}"#.into()));
        let text = s.stdout.text();
        assert!(text.starts_with(&"y".repeat(100)));
        assert!(text.ends_with("more bytes of output not kept]"), "{}", &text[text.len() - 60..]);
        assert!(s.stderr.text().len() < KEPT_HEAD_BYTES + 100);
        assert!(!s.stderr.is_empty());
    }

    #[test]
    fn a_result_span_without_end_stops_growing() {
        let mut s = OutputScanner::default();
        s.push_stdout(START_MARKER);
        let block = vec![b'z'; 1024 * 1024];
        for _ in 0..(MAX_RESULT_BYTES / block.len() + 2) {
            s.push_stdout(&block);
        }
        s.push_stdout(END_MARKER);
        assert_eq!(s.result(), ResultSpan::TooLarge);
    }

    #[test]
    fn a_forgotten_result_never_counts_and_the_next_one_does() {
        let forged = framed(r#"{"reply":"forged"}"#);
        // Whole, begun, or a marker cut in two at the claim: none of it joins what follows.
        for cut in [forged.len(), 50, 20] {
            let mut s = OutputScanner::default();
            s.push_stdout(&forged[..cut]);
            s.forget_result();
            s.push_stdout(&forged[cut..]);
            assert_eq!(s.result(), ResultSpan::Missing, "cut {cut}");
            s.push_stdout(&framed(r#"{"reply":"real"}"#));
            assert_eq!(s.result(), ResultSpan::Text(r#"{"reply":"real"}"#.into()), "cut {cut}");
            assert!(s
                .stdout
                .text()
                .starts_with("booting\n---MERCURY_CONTAINER_RESULT_START---\n{\"reply\":\"forged\"}"));
        }
    }

    #[test]
    fn taking_a_10_mb_result_copies_nothing() {
        use crate::core::untrusted::result_json::tests::peak_extra;
        let mut s = OutputScanner::default();
        s.push_stdout(b"boot\n---MERCURY_CONTAINER_RESULT_START---\n \t");
        let block = vec![b'a'; 64 * 1024];
        let blocks = 10_000_000 / block.len();
        for _ in 0..blocks {
            s.push_stdout(&block);
        }
        s.push_stdout(b"\n---MERCURY_CONTAINER_RESULT_END---\n");
        let (taken, peak) = peak_extra(|| s.take_result());
        let ResultSpan::Text(text) = taken else { panic!("no text") };
        assert_eq!(text.len(), blocks * block.len());
        assert!(text.bytes().all(|b| b == b'a'));
        // Trimmed and made text in the span's own buffer: nothing allocated on the way.
        assert!(peak < 64 * 1024, "{peak}");
    }

    #[test]
    fn a_large_body_is_never_moved_once_past_the_reservation_point() {
        // Where the body's buffer is, how much it holds, how much it may.
        let body = |s: &OutputScanner| match &s.span {
            Span::Inside { body } => (body.as_ptr(), body.len(), body.capacity()),
            other => panic!("not inside a span: {other:?}"),
        };
        let mut s = OutputScanner::default();
        s.push_stdout(START_MARKER);
        let block = vec![b'a'; 64 * 1024];
        while body(&s).1 + block.len() <= RESERVE_WHOLE_SPAN_PAST {
            s.push_stdout(&block);
        }
        assert!(body(&s).2 <= RESERVE_WHOLE_SPAN_PAST, "a small reply reserves nothing");
        s.push_stdout(&block);
        let (at, _, capacity) = body(&s);
        assert!(capacity >= MAX_RESULT_BYTES + END_MARKER.len(), "{capacity}");
        while body(&s).1 + block.len() <= MAX_RESULT_BYTES {
            s.push_stdout(&block);
            assert_eq!((body(&s).0, body(&s).2), (at, capacity), "the body was moved while it grew");
        }
        s.push_stdout(END_MARKER);
        let ResultSpan::Text(text) = s.take_result() else { panic!("no text") };
        assert_eq!(text.len(), MAX_RESULT_BYTES);
        assert_eq!(text.as_ptr(), at, "the text is not the body's buffer");
    }

    #[test]
    fn a_taken_result_is_handed_over_once_and_later_output_ignored() {
        let mut s = scan_in_chunks(&framed(r#"{"reply":"one"}"#), 7);
        assert_eq!(s.take_result(), ResultSpan::Text(r#"{"reply":"one"}"#.into()));
        assert_eq!(s.take_result(), ResultSpan::Missing);
        s.push_stdout(&framed(r#"{"reply":"two"}"#));
        assert_eq!(s.take_result(), ResultSpan::Missing);
        // A standby's claim forgets it, as any other span: the next one counts.
        s.forget_result();
        s.push_stdout(&framed(r#"{"reply":"three"}"#));
        assert_eq!(s.take_result(), ResultSpan::Text(r#"{"reply":"three"}"#.into()));
    }

    #[test]
    fn taking_keeps_replacing_invalid_utf8_and_the_js_trim() {
        let mut out = b"---MERCURY_CONTAINER_RESULT_START---\xef\xbb\xbf\xe2\x80\xa8 \xc2\x85".to_vec();
        out.extend_from_slice(&[0xff, b'a', 0xe2, 0x82]);
        out.extend_from_slice(b" \xc2\xa0---MERCURY_CONTAINER_RESULT_END---");
        // A BOM and U+2028 are JS whitespace, U+0085 is not; bad bytes become U+FFFD.
        let expected = ResultSpan::Text("\u{85}\u{fffd}a\u{fffd}".into());
        for chunk in [1, 5, out.len()] {
            let mut s = scan_in_chunks(&out, chunk);
            assert_eq!(s.result(), expected, "chunk {chunk}");
            assert_eq!(s.take_result(), expected, "chunk {chunk}");
        }
        let mut blank = scan_in_chunks(
            b"---MERCURY_CONTAINER_RESULT_START---\n \xe3\x80\x80\t---MERCURY_CONTAINER_RESULT_END---",
            3,
        );
        assert_eq!(blank.take_result(), ResultSpan::Text(String::new()));
    }

    #[test]
    fn partial_suffix_finds_marker_prefixes() {
        assert_eq!(partial_suffix(b"abc---MER", START_MARKER), 6);
        assert_eq!(partial_suffix(b"abc", START_MARKER), 0);
        assert_eq!(partial_suffix(b"-", START_MARKER), 1);
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// The contract's parse on the whole stdout at once, as the host's runner did.
    fn reference(stdout: &[u8]) -> ResultSpan {
        let Some(start) = find(stdout, START_MARKER) else {
            return ResultSpan::Missing;
        };
        let rest = &stdout[start + START_MARKER.len()..];
        match find(rest, END_MARKER) {
            Some(end) => ResultSpan::Text(String::from_utf8_lossy(&rest[..end]).trim().to_owned()),
            None => ResultSpan::Missing,
        }
    }

    /// Output made of marker pieces, whole markers, JSON-ish text and random bytes.
    fn agent_output() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            Just(START_MARKER.to_vec()),
            Just(END_MARKER.to_vec()),
            (1..START_MARKER.len()).prop_map(|n| START_MARKER[..n].to_vec()),
            (1..END_MARKER.len()).prop_map(|n| END_MARKER[n..].to_vec()),
            Just(b"{\"reply\":\"hi\"}\n".to_vec()),
            Just(b"\n  \t".to_vec()),
            proptest::collection::vec(any::<u8>(), 0..40),
        ];
        proptest::collection::vec(piece, 0..12).prop_map(|parts| parts.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn chunking_never_changes_the_result(out in agent_output(), cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8)) {
            let mut points: Vec<usize> = cuts.iter().map(|i| i.index(out.len() + 1)).collect();
            points.sort_unstable();
            let mut scanner = OutputScanner::default();
            let mut from = 0;
            for p in points.into_iter().chain(std::iter::once(out.len())) {
                scanner.push_stdout(&out[from..p]);
                from = p;
            }
            let expected = reference(&out);
            prop_assert_eq!(scanner.result(), expected.clone());
            prop_assert_eq!(scanner.take_result(), expected.clone());
            // Handed over once; an overflow or a missing span says so again.
            let again = if matches!(expected, ResultSpan::Text(_)) { ResultSpan::Missing } else { expected };
            prop_assert_eq!(scanner.take_result(), again);
            prop_assert_eq!(scanner.stdout.text(), String::from_utf8_lossy(&out).into_owned());
        }

        #[test]
        fn arbitrary_bytes_never_panic(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..20)) {
            let mut scanner = OutputScanner::default();
            for c in &chunks {
                scanner.push_stdout(c);
                scanner.push_stderr(c);
            }
            let _ = scanner.result();
            let _ = scanner.stderr.text();
        }
    }
}

#[cfg(test)]
mod corpus {
    use super::*;

    /// Outputs that once mattered (stray ENDs, false starts, bad UTF-8, ...),
    /// each scanned in every chunk size and checked against a whole-buffer scan.
    #[test]
    fn every_corpus_file_scans_the_same_in_any_chunking() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/core/testdata/output");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            let mut whole = OutputScanner::default();
            whole.push_stdout(&bytes);
            for chunk in 1..=bytes.len() {
                let mut s = OutputScanner::default();
                bytes.chunks(chunk).for_each(|c| s.push_stdout(c));
                assert_eq!(s.result(), whole.result(), "chunk {chunk}");
            }
            seen += 1;
        }
        assert!(seen >= 8, "the corpus is missing files");
    }

    #[test]
    fn corpus_expectations() {
        let scan = |name: &str| {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/core/testdata/output").join(name);
            let mut s = OutputScanner::default();
            s.push_stdout(&std::fs::read(path).unwrap());
            s.result()
        };
        assert_eq!(scan("plain.txt"), ResultSpan::Text(r#"{"reply":"plain"}"#.into()));
        assert_eq!(scan("end-before-start.txt"), ResultSpan::Text(r#"{"reply":"after a stray end"}"#.into()));
        assert_eq!(scan("repeated.txt"), ResultSpan::Text(r#"{"reply":"one"}"#.into()));
        assert_eq!(
            scan("overlapping-prefixes.txt"),
            ResultSpan::Text(r#"{"reply":"after a false start"}---MERCURY_CONTAINER_RESULT_EN"#.into())
        );
        assert_eq!(scan("start-without-end.txt"), ResultSpan::Missing);
        assert_eq!(scan("invalid-utf8.bin"), ResultSpan::Text("\u{fffd}{\"reply\":\"bad utf8 inside\"}".into()));
        assert_eq!(scan("empty-span.txt"), ResultSpan::Text(String::new()));
        assert_eq!(scan("no-markers.txt"), ResultSpan::Missing);
    }
}
