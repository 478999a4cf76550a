use super::*;

use crate::core::node_oracle::answer_lines;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

fn utf8(s: &str) -> Result<ReplyText, String> {
    Ok(ReplyText::Utf8(s.to_owned()))
}

/// [`super::reply_of`] on a copy of `span`: for the tests of what it answers.
/// The memory tests below hand it their span, as the turn does.
fn reply_of(span: &str) -> Result<ReplyText, String> {
    super::reply_of(span.to_owned())
}

#[test]
fn reply_string_or_done() {
    assert_eq!(reply_of(r#"{"reply":"hello"}"#), utf8("hello"));
    assert_eq!(reply_of(r#"{"other":1}"#), utf8("Done."));
    assert_eq!(reply_of(r#"{"reply":null}"#), utf8("Done."));
    assert_eq!(reply_of(r#"[1,{"reply":"x"}]"#), utf8("Done."));
    assert_eq!(reply_of(r#""reply""#), utf8("Done."));
    assert_eq!(reply_of("{}"), utf8("Done."));
    assert_eq!(reply_of(r#"{"a":{"reply":"nested"}}"#), utf8("Done."));
}

#[test]
fn the_last_reply_member_wins() {
    assert_eq!(reply_of(r#"{"reply":"one","reply":"two"}"#), utf8("two"));
    assert_eq!(reply_of(r#"{"reply":"one","x":{"reply":"in"},"reply":null}"#), utf8("Done."));
    assert_eq!(reply_of(r#"{"reply":[1,{"reply":"in"}],"z":0}"#), utf8(r#"[1,{"reply":"in"}]"#));
}

#[test]
fn an_escaped_key_is_the_same_key() {
    assert_eq!(reply_of(r#"{"\u0072eply":"esc"}"#), utf8("esc"));
    assert_eq!(reply_of(r#"{"\u0072\u0065\u0070\u006C\u0079":"all"}"#), utf8("all"));
    assert_eq!(reply_of(r#"{"reply\u0000":"no"}"#), utf8("Done."));
}

#[test]
fn escapes_decode_and_lone_surrogates_stay_utf16() {
    assert_eq!(reply_of(r#"{"reply":"a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"}"#), utf8("a\"\\/\u{8}\u{c}\n\r\té😀"));
    assert_eq!(
        reply_of(r#"{"reply":"cut \ud83d"}"#),
        Ok(ReplyText::Utf16("cut ".encode_utf16().chain([0xD83D]).collect()))
    );
    assert_eq!(reply_of(r#"{"reply":"\ude00\ud83d"}"#), Ok(ReplyText::Utf16(vec![0xDE00, 0xD83D])));
    assert_eq!(
        reply_of(r#"{"reply":"\ud83d\ud83d\ude00x"}"#),
        Ok(ReplyText::Utf16(vec![0xD83D, 0xD83D, 0xDE00, 0x78]))
    );
    assert_eq!(reply_of(r#"{"reply":"\ud83dé"}"#), Ok(ReplyText::Utf16(vec![0xD83D, 0xE9])));
    assert_eq!(ReplyText::Utf16(vec![0x61, 0xD83D]).into_string_lossy(), "a\u{FFFD}");
}

#[test]
fn js_trim_is_javascripts() {
    assert_eq!(reply_of("\u{FEFF}\u{2028} \u{3000}{\"reply\":\"bom\"}\u{A0}\u{B}\n"), utf8("bom"));
    // U+0085 is whitespace to Rust's trim, not to JS's: JSON.parse then throws.
    assert_eq!(reply_of("\u{85}{}"), Err("\u{85}{}".to_owned()));
    assert_eq!(js_trim("\u{85}x\u{85}"), "\u{85}x\u{85}");
    assert_eq!(js_trim("\u{180E}x"), "\u{180E}x");
    // Inside the text only JSON whitespace counts.
    assert!(reply_of("{\u{A0}}").is_err());
    assert!(reply_of("{\u{FEFF}}").is_err());
}

#[test]
fn numbers_follow_the_json_grammar_at_any_magnitude() {
    for ok in ["0", "-0", "1e400", "-1E-400", "12345678901234567890123456789", "1.5e+10", "0.0e0"] {
        assert_eq!(reply_of(&format!(r#"{{"n":{ok},"reply":"y"}}"#)), utf8("y"), "{ok}");
    }
    for bad in ["01", "1.", ".5", "-", "+1", "1e", "1e+", "0x10", "Infinity", "NaN", "- 1", "1.e5"] {
        assert!(reply_of(&format!(r#"{{"n":{bad},"reply":"y"}}"#)).is_err(), "{bad}");
    }
}

#[test]
fn strings_reject_control_characters_and_bad_escapes() {
    for bad in ["\"a\u{1}\"", "\"\t\"", r#""\x""#, r#""\u12""#, r#""\U0041""#, r#""\u00g0""#, "\"open"] {
        assert!(reply_of(&format!(r#"{{"reply":{bad}}}"#)).is_err(), "{bad}");
    }
    assert_eq!(reply_of("{\"reply\":\"\u{7F}\u{2028}\"}"), utf8("\u{7F}\u{2028}"));
}

#[test]
fn structure_errors_are_rejected() {
    for bad in [
        "",
        "{",
        "}",
        "{\"reply\":\"x\"",
        "{\"reply\" \"x\"}",
        "{\"reply\":}",
        "{,}",
        "{\"a\":1,}",
        "[1,]",
        "[,1]",
        "[1 2]",
        "{\"a\":1 \"b\":2}",
        "{1:2}",
        "{} {}",
        "{}x",
        "tru",
        "nul",
        "[",
        "]",
        "[[]",
        "{'a':1}",
    ] {
        assert!(reply_of(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn nesting_is_unbounded() {
    let depth = 200_000;
    let deep = format!("{{\"reply\":\"deep\",\"x\":{}{}}}", "[".repeat(depth), "]".repeat(depth));
    assert_eq!(reply_of(&deep), utf8("deep"));
    let unbalanced = format!("{{\"reply\":\"deep\",\"x\":{}{}}}", "[".repeat(depth), "]".repeat(depth - 1));
    assert!(reply_of(&unbalanced).is_err());
    let objects = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
    assert_eq!(reply_of(&objects), utf8("Done."));
    // Past serde's 128 levels a non-string reply is its own compact text.
    let reply_deep = format!("{{\"reply\":{} 1 {}}}", "[".repeat(300), "]".repeat(300));
    assert_eq!(reply_of(&reply_deep), utf8(&format!("{}1{}", "[".repeat(300), "]".repeat(300))));
}

#[test]
fn non_string_replies_are_their_compact_json_as_before() {
    assert_eq!(reply_of(r#"{"reply":42}"#), utf8("42"));
    assert_eq!(reply_of(r#"{"reply":true}"#), utf8("true"));
    assert_eq!(reply_of(r#"{"reply": { "a" : [1, 2.50, "x y"] } }"#), utf8(r#"{"a":[1,2.5,"x y"]}"#));
    // serde_json cannot hold 1e400: the value's own text.
    assert_eq!(reply_of(r#"{"reply": [1e400, " a\" b" ] }"#), utf8(r#"[1e400," a\" b"]"#));
    // Large values are not re-parsed into a tree.
    let big = format!("[{}1]", "1, ".repeat(REPLY_VALUE_REPARSE_MAX_BYTES));
    assert_eq!(
        reply_of(&format!("{{\"reply\":{big}}}")),
        utf8(&format!("[{}1]", "1,".repeat(REPLY_VALUE_REPARSE_MAX_BYTES)))
    );
}

#[test]
fn malformed_quotes_the_first_200_units_of_the_trimmed_text() {
    assert_eq!(reply_of(&"x".repeat(300)), Err("x".repeat(200)));
    assert_eq!(reply_of(&format!("\u{FEFF}  {}", "y".repeat(300))), Err("y".repeat(200)));
    let emoji = format!("{}😀tail", "a".repeat(199));
    assert_eq!(reply_of(&emoji), Err("a".repeat(199))); // a pair is not split, as js_prefix does
}

// ---------------------------------------------------------------------------
// The JSON.parse oracle: a seeded corpus, run once through node.

/// xorshift64*: a fixed seed makes a failure reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn percent(&mut self, p: usize) -> bool {
        self.below(100) < p
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const STRING_PIECES: &[&str] = &[
    "a",
    "reply",
    " ",
    "é",
    "😀",
    "\u{2028}",
    "\u{FEFF}",
    "\u{7F}",
    r#"\""#,
    r"\\",
    r"\/",
    r"\b\f\n\r\t",
    r"\ud83d",
    r"\ude00",
    r"\ud83d\ude00",
    r"\uD83D",
    r"\uDBFF\uDFFF",
    r"\u0000",
    r"\u00e9",
    r"\u0072",
    "}",
    "{",
    "[",
    ",",
    ":",
];
const BAD_STRING_PIECES: &[&str] = &["\u{1}", "\t", "\n", r"\x", r"\u12", r"\U0041", r"\u00G0", "\\"];
const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "7",
    "-12",
    "3.25",
    "1e400",
    "-1e-400",
    "1E+2",
    "123456789012345678901234567890",
    "0.000001e-7",
    "2.5E10",
];
const BAD_NUMBERS: &[&str] = &["01", "1.", ".5", "-", "+1", "1e", "0x10", "Infinity", "NaN", "-.1", "1e+"];
const KEYS: &[&str] = &[
    r#""reply""#,
    r#""reply""#,
    r#""\u0072eply""#,
    r#""rep\u006cy""#,
    r#""a""#,
    r#""""#,
    r#""Reply""#,
    r#""reply ""#,
    r#""r\u00e9""#,
    r#""__proto__""#,
];
const INNER_WS: &[&str] = &["", "", " ", "\n", "\t", "\r\n  "];
const BAD_INNER_WS: &[&str] = &["\u{A0}", "\u{B}", "\u{C}", "\u{2028}", "\u{FEFF}"];
const OUTER_WS: &[&str] = &[
    "",
    "",
    "\n",
    " ",
    "\u{FEFF}",
    "\u{2028}",
    "\u{2029}",
    "\u{A0}",
    "\u{3000}",
    "\u{B}\u{C}",
    "\u{1680}",
    "\u{205F}",
    "\u{85}",
    "\u{180E}",
    "\u{200B}",
    "\u{FEFF}\u{FEFF} ",
];

fn ws(rng: &mut Rng, out: &mut String) {
    out.push_str(if rng.percent(2) { rng.pick(BAD_INNER_WS) } else { rng.pick(INNER_WS) });
}

fn string(rng: &mut Rng, out: &mut String) {
    out.push('"');
    for _ in 0..rng.below(6) {
        out.push_str(if rng.percent(2) { rng.pick(BAD_STRING_PIECES) } else { rng.pick(STRING_PIECES) });
        if rng.percent(5) {
            out.push_str(&format!("\\u{:04x}", rng.next() as u16));
        }
    }
    out.push('"');
}

fn value(rng: &mut Rng, depth: usize, out: &mut String) {
    let kind = if depth >= 6 { 2 + rng.below(4) } else { rng.below(6) };
    match kind {
        0 => object(rng, depth, out),
        1 => {
            out.push('[');
            let n = rng.below(4);
            for k in 0..n {
                ws(rng, out);
                value(rng, depth + 1, out);
                ws(rng, out);
                if k + 1 < n || rng.percent(2) {
                    out.push(',');
                }
            }
            ws(rng, out);
            out.push(']');
        }
        2 | 3 => string(rng, out),
        4 => out.push_str(if rng.percent(3) { rng.pick(BAD_NUMBERS) } else { rng.pick(NUMBERS) }),
        _ => {
            let n = if rng.percent(3) { 6 } else { 4 };
            out.push_str(rng.pick(&["true", "false", "null", "null", "tru", "nulll"][..n]));
        }
    }
}

fn object(rng: &mut Rng, depth: usize, out: &mut String) {
    out.push('{');
    let n = rng.below(5);
    for k in 0..n {
        ws(rng, out);
        let key = if rng.percent(20) { String::new() } else { rng.pick(KEYS).to_owned() };
        if key.is_empty() {
            string(rng, out);
        } else {
            out.push_str(&key);
        }
        ws(rng, out);
        if !rng.percent(1) {
            out.push(':');
        }
        ws(rng, out);
        // Most replies the host sees are strings: weigh them so the decoding is well exercised.
        if key.contains("eply") && rng.percent(60) {
            string(rng, out);
        } else {
            value(rng, depth + 1, out);
        }
        ws(rng, out);
        if k + 1 < n || rng.percent(2) {
            out.push(',');
        }
    }
    out.push('}');
}

fn mutate(rng: &mut Rng, text: &mut String) {
    let boundaries: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
    let at = boundaries[rng.below(boundaries.len())];
    match rng.below(3) {
        0 => text.truncate(at),
        1 => {
            if let Some(c) = text[at..].chars().next() {
                text.replace_range(at..at + c.len_utf8(), "");
            }
        }
        _ => text.insert_str(at, rng.pick(&["{", "}", "[", "]", ",", ":", "\"", "\\", " ", "0", "e", ".", "-", "u"])),
    }
}

fn corpus() -> Vec<String> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut cases = Vec::new();
    for _ in 0..15_000 {
        let mut text = String::new();
        text.push_str(rng.pick(OUTER_WS));
        if rng.percent(70) {
            object(&mut rng, 0, &mut text);
        } else {
            value(&mut rng, 0, &mut text);
        }
        text.push_str(rng.pick(OUTER_WS));
        if rng.percent(25) {
            mutate(&mut rng, &mut text);
        }
        cases.push(text);
    }
    for depth in [127, 128, 129, 1000, 5000, 20_000] {
        let (open, close) = ("[".repeat(depth), "]".repeat(depth));
        cases.push(format!("{open}{close}"));
        cases.push(format!("{open}{}", &close[1..]));
        cases.push(format!("{{\"reply\":\"d\",\"x\":{open}{close}}}"));
        cases.push(format!("{{\"reply\":{open}{close}}}"));
        cases.push(format!("{}\"v\"{}", "{\"reply\":".repeat(depth), "}".repeat(depth)));
        cases.push(format!("{}\"v\"{}", "{\"reply\":".repeat(depth), "}".repeat(depth + 1)));
    }
    cases
}

/// Node's answer for one case, as the oracle script prints it.
#[derive(Debug, PartialEq)]
enum Answer {
    Rejected,
    Type(String),
    Units(Vec<u16>),
}

fn ours(text: &str) -> Answer {
    let Some(found) = scan(js_trim(text).as_bytes()) else {
        return Answer::Rejected;
    };
    let trimmed = js_trim(text);
    match found {
        Found::Absent => Answer::Type("undefined".into()),
        Found::Null => Answer::Type("null".into()),
        Found::Str(range) => match decode_string(trimmed.to_owned(), range) {
            ReplyText::Utf8(s) => Answer::Units(s.encode_utf16().collect()),
            ReplyText::Utf16(units) => {
                assert!(String::from_utf16(&units).is_err(), "UTF-16 chosen without a lone surrogate: {text:?}");
                Answer::Units(units)
            }
        },
        Found::Other(range) => Answer::Type(
            match trimmed.as_bytes()[range.start] {
                b'{' | b'[' => "object",
                b't' | b'f' => "boolean",
                _ => "number",
            }
            .into(),
        ),
    }
}

#[test]
fn agrees_with_json_parse_in_node_on_a_generated_corpus() {
    let cases = corpus();
    let answers: Vec<Answer> = answer_lines("json_parse_oracle.js", &cases, "a real JSON.parse")
        .iter()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            match (&v["ok"], v["type"].as_str()) {
                (serde_json::Value::Bool(false), _) => Answer::Rejected,
                (_, Some("string")) => {
                    Answer::Units(v["units"].as_array().unwrap().iter().map(|u| u.as_u64().unwrap() as u16).collect())
                }
                (_, Some(t)) => Answer::Type(t.to_owned()),
                _ => panic!("bad oracle line {line}"),
            }
        })
        .collect();
    let (mut accepted, mut strings, mut lone) = (0, 0, 0);
    let mut mismatches = Vec::new();
    for (case, theirs) in cases.iter().zip(&answers) {
        let mine = ours(case);
        if mine != *theirs {
            mismatches.push(format!("{case:?}\n  node: {theirs:?}\n  ours: {mine:?}"));
        }
        accepted += usize::from(*theirs != Answer::Rejected);
        if let Answer::Units(units) = theirs {
            strings += 1;
            lone += usize::from(String::from_utf16(units).is_err());
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches, first ones:\n{}",
        mismatches.len(),
        mismatches[..mismatches.len().min(5)].join("\n")
    );
    // The corpus must exercise both sides and the interesting cases, or agreeing proves little.
    eprintln!(
        "oracle: {} cases, {accepted} accepted, {strings} string replies, {lone} with a lone surrogate",
        cases.len()
    );
    assert!(accepted > cases.len() / 4 && accepted < cases.len() * 3 / 4, "{accepted} of {}", cases.len());
    assert!(strings > 800 && lone > 150, "{strings} strings, {lone} lone");
}

// ---------------------------------------------------------------------------
// Memory: a counting allocator, per thread so parallel tests do not disturb it.

struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn note(delta: isize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            note(layout.size() as isize);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            note(layout.size() as isize);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        unsafe { System.dealloc(p, layout) };
        note(-(layout.size() as isize));
    }
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, layout, new_size) };
        if !q.is_null() {
            if new_size <= layout.size() {
                // Shrinking: in place in the system allocators (glibc splits the
                // chunk or mremaps it), so nothing is held twice.
                note(new_size as isize - layout.size() as isize);
            } else {
                // Growing: counted as old + new at the moment of the move, the worst case.
                note(new_size as isize);
                note(-(layout.size() as isize));
            }
        }
        q
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// The peak of this thread's live heap above where it was before `f`, while `f` ran.
pub(crate) fn peak_extra<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(start));
    let result = f();
    let peak = PEAK.with(Cell::get);
    (result, (peak - start).max(0) as usize)
}

const TEN_MB: usize = 10_000_000;

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

#[test]
fn a_10_mb_array_costs_almost_nothing_beyond_the_span() {
    let span = format!("{{\"reply\":\"ok\",\"data\":[{}0]}}", "0,".repeat(TEN_MB / 2));
    let (reply, peak) = peak_extra(move || super::reply_of(span));
    assert_eq!(reply, utf8("ok"));
    eprintln!("10 MB array: peak extra {peak} bytes");
    assert!(peak < 64 * 1024, "{peak}");
}

#[test]
fn a_small_reply_does_not_keep_the_span_s_buffer() {
    let span = format!("{{\"reply\":\"ok\",\"data\":[{}0]}}", "0,".repeat(TEN_MB / 2));
    let (reply, _) = peak_extra(move || super::reply_of(span));
    let Ok(ReplyText::Utf8(text)) = reply else { panic!("expected text") };
    assert_eq!(text, "ok");
    assert!(text.capacity() < 64 * 1024, "{}", text.capacity());
}

#[test]
fn a_rejected_10_mb_array_costs_only_the_quoted_prefix() {
    let span = format!("[{}0", "0,".repeat(TEN_MB / 2));
    let (reply, peak) = peak_extra(move || super::reply_of(span));
    assert!(reply.is_err());
    eprintln!("rejected 10 MB array: peak extra {peak} bytes");
    assert!(peak < 64 * 1024, "{peak}");
}

#[test]
fn deep_nesting_costs_one_bit_per_level() {
    let depth = TEN_MB / 2;
    let span = format!("{{\"reply\":\"deep\",\"x\":{}{}}}", "[".repeat(depth), "]".repeat(depth));
    let (reply, peak) = peak_extra(move || super::reply_of(span));
    assert_eq!(reply, utf8("deep"));
    eprintln!("depth {depth}: peak extra {:.2} MiB", mib(peak));
    // One bit per level; growing the Vec may hold the old and the doubled buffer at once: 3x the bits.
    assert!(peak <= 3 * depth / 8 + 64 * 1024, "{peak}");
}

#[test]
fn a_10_mb_string_reply_is_made_in_the_span_s_own_buffer() {
    let body = "x".repeat(TEN_MB);
    let span = format!("\n {{\"reply\":\"{body}\"}}\n");
    let span_at = span.as_ptr();
    let (reply, peak) = peak_extra(move || super::reply_of(span));
    let Ok(ReplyText::Utf8(text)) = reply else { panic!("expected text") };
    assert!(text == body);
    assert_eq!(text.as_ptr(), span_at, "the reply is not in the span's buffer");
    eprintln!("10 MB string reply: peak extra {peak} bytes");
    assert!(peak < 64 * 1024, "{peak}");
}

#[test]
fn a_10_mb_escaped_string_reply_is_decoded_in_place() {
    // Every kind of escape, shorter decoded than written, all through the reply.
    let piece = r#"ab\"\\\/\n\u00e9\u20ac\ud83d\ude00é😀"#;
    let decoded = "ab\"\\/\né€😀é😀";
    let n = TEN_MB / piece.len();
    let span = format!("{{\"reply\":\"{}\"}}", piece.repeat(n));
    let (reply, peak) = peak_extra(move || super::reply_of(span));
    assert!(reply == utf8(&decoded.repeat(n)));
    eprintln!("10 MB escaped string reply: peak extra {peak} bytes");
    assert!(peak < 64 * 1024, "{peak}");
}

#[test]
fn a_10_mb_string_reply_with_a_lone_surrogate_costs_at_most_twice_the_span() {
    let span = format!("{{\"reply\":\"{}\\ud83d\"}}", "x".repeat(TEN_MB));
    let len = span.len();
    let (reply, peak) = peak_extra(move || super::reply_of(span));
    let Ok(ReplyText::Utf16(units)) = reply else { panic!("expected UTF-16") };
    assert_eq!(units.len(), TEN_MB + 1);
    assert_eq!(units.last(), Some(&0xD83D));
    eprintln!(
        "10 MB string with a lone surrogate: peak extra {:.2} MiB ({:.2}x the span)",
        mib(peak),
        peak as f64 / len as f64
    );
    assert!(peak <= 2 * len + 64 * 1024, "{peak}");
}

#[test]
fn a_10_mb_non_string_reply_is_compacted_in_place() {
    let span = format!("{{\"reply\":[{}0]}}", "0, ".repeat(TEN_MB / 3));
    let (reply, peak) = peak_extra(move || super::reply_of(span));
    let Ok(ReplyText::Utf8(text)) = reply else { panic!("expected text") };
    assert_eq!(text.len(), 2 + 2 * (TEN_MB / 3) + 1);
    assert!(text.starts_with("[0,0,") && text.ends_with(",0]"));
    eprintln!("10 MB array reply: peak extra {peak} bytes");
    assert!(peak < 64 * 1024, "{peak}");
}
