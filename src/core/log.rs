//! Log lines. The runner writes `tracing` events (a turn's inside a span that
//! carries `spaceId` and `container`); each runner has its own subscriber,
//! [`dispatch`], which hands every event of this crate, with its spans' fields,
//! to the runner's [`LogSink`]: the host's logger or its console format.

use std::sync::Arc;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Dispatch, Event, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// Structured fields of one line, in insertion order.
pub(crate) type Fields = Map<String, Value>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    /// The host logger's method name.
    pub(crate) fn method(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }

    fn of(level: &tracing::Level) -> Self {
        match *level {
            tracing::Level::ERROR => Level::Error,
            tracing::Level::WARN => Level::Warn,
            tracing::Level::INFO => Level::Info,
            _ => Level::Debug,
        }
    }
}

/// Where a runner's lines go. Implementations must not block: lines are
/// written from the engine's tasks. The binding implements it (see `host`).
pub(crate) trait LogSink: Send + Sync {
    fn log(&self, level: Level, msg: &str, fields: Fields);
}

/// Builds [`Fields`] from `key => value` pairs (for lines written outside
/// `tracing`, such as the constructor's warning).
#[macro_export]
macro_rules! fields {
    () => { $crate::core::Fields::new() };
    ($($key:literal => $value:expr),+ $(,)?) => {{
        let mut f = $crate::core::Fields::new();
        $( f.insert($key.to_owned(), ::serde_json::json!($value)); )+
        f
    }};
}

/// The subscriber of one runner. Only this crate's events reach the sink: the
/// libraries under it (bollard, hyper, tokio) trace into the same futures.
pub(crate) fn dispatch(sink: Arc<dyn LogSink>) -> Dispatch {
    Dispatch::new(tracing_subscriber::registry().with(SinkLayer { sink }))
}

const OURS: &str = env!("CARGO_CRATE_NAME");

struct SinkLayer {
    sink: Arc<dyn LogSink>,
}

/// A span's fields, kept in the span's extensions until it closes.
struct SpanFields(Fields);

impl<S> Layer<S> for SinkLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn enabled(&self, metadata: &Metadata<'_>, _: Context<'_, S>) -> bool {
        metadata.target().starts_with(OURS)
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::new();
        attrs.record(&mut Collect { fields: &mut fields, message: None });
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(fields));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if let Some(SpanFields(fields)) = span.extensions_mut().get_mut::<SpanFields>() {
                // An existing key keeps its place: a renamed container stays where `container` was.
                values.record(&mut Collect { fields, message: None });
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(SpanFields(span_fields)) = span.extensions().get::<SpanFields>() {
                    fields.extend(span_fields.clone());
                }
            }
        }
        let mut message = String::new();
        event.record(&mut Collect { fields: &mut fields, message: Some(&mut message) });
        self.sink.log(Level::of(event.metadata().level()), &message, fields);
    }
}

/// Turns recorded values into JSON values: numbers stay numbers, the rest text.
struct Collect<'a> {
    fields: &'a mut Fields,
    message: Option<&'a mut String>,
}

impl Collect<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        self.fields.insert(field.name().to_owned(), value);
    }
}

impl Visit for Collect<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        match (&mut self.message, field.name()) {
            (Some(message), "message") => message.push_str(value),
            _ => self.put(field, Value::from(value)),
        }
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value))
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value))
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Value::from(value))
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::from(value))
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.record_str(field, &format!("{value:?}"))
    }
}

/// The host's console output settings, from `MERCURY_LOG_FORMAT` and `MERCURY_LOG_LEVEL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConsoleFormat {
    pub json: bool,
    /// None: `silent`.
    pub min_level: Option<Level>,
}

impl ConsoleFormat {
    pub(crate) fn from_env(format: Option<&str>, level: Option<&str>) -> Self {
        let json = format.map(|f| f.trim().eq_ignore_ascii_case("json")).unwrap_or(false);
        let min_level = match level.map(|l| l.trim().to_ascii_lowercase()).as_deref() {
            Some("debug") => Some(Level::Debug),
            Some("warn") => Some(Level::Warn),
            Some("error") => Some(Level::Error),
            Some("silent") => None,
            _ => Some(Level::Info),
        };
        Self { json, min_level }
    }

    pub(crate) fn enabled(&self, level: Level) -> bool {
        self.min_level.is_some_and(|min| level >= min)
    }

    /// One console line, without the newline; `ts` is an ISO-8601 UTC time.
    /// The line is inert on a terminal whatever the values hold (see [`is_active`]).
    pub(crate) fn format(&self, ts: &str, level: Level, msg: &str, fields: &Fields) -> String {
        if self.json {
            let mut obj = Map::new();
            obj.insert("ts".into(), Value::from(ts));
            obj.insert("level".into(), Value::from(level.method()));
            obj.insert("msg".into(), Value::from(msg));
            for (k, v) in fields {
                obj.insert(k.clone(), v.clone());
            }
            // Still valid JSON, and the same value once parsed.
            return escape_active(&Value::Object(obj).to_string()).into_owned();
        }
        let mut line = format!("{ts} [{:<5}] {}", level.method().to_uppercase(), escape_active(msg));
        for (k, v) in fields {
            line.push(' ');
            line.push_str(&escape_active(k));
            line.push('=');
            match v {
                Value::String(s) if is_bare(s) => line.push_str(s),
                // Quoted as JSON: C0 controls come out escaped by serde_json, the rest by escape_active.
                other => line.push_str(&escape_active(&other.to_string())),
            }
        }
        line
    }
}

/// Whether a text value can be written as is after `key=`: nothing that would
/// split it (whitespace, `"`, `=`) and nothing a terminal acts on.
fn is_bare(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c == '"' || c == '=' || is_active(c))
}

/// Characters a terminal or a log viewer acts on instead of showing: every
/// control character (C0 such as ESC, BEL, CR, LF; DEL; C1 such as the 8-bit
/// CSI U+009B), the Unicode line and paragraph separators, and the bidi
/// controls that reorder what follows them. Values such as outbox file names
/// come from the agent, so none of these may reach a console line raw.
pub(crate) fn is_active(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `s` with every [`is_active`] character written as a JSON `\uXXXX` escape.
/// Inside a JSON string that escape means the character itself, so a JSON
/// text stays valid and parses to the same value.
pub(crate) fn escape_active(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(is_active) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if is_active(c) {
            // Every active character is in the Basic Multilingual Plane: one escape each.
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// A sink that keeps every line, for tests of what the runner logs.
#[cfg(test)]
#[derive(Default)]
pub(crate) struct Recorded(pub std::sync::Mutex<Vec<(Level, String, Fields)>>);

#[cfg(test)]
impl LogSink for Recorded {
    fn log(&self, level: Level, msg: &str, fields: Fields) {
        self.0.lock().unwrap().push((level, msg.to_owned(), fields));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::instrument::WithSubscriber;

    #[test]
    fn text_lines_have_the_hosts_shape() {
        let f = ConsoleFormat::from_env(None, None);
        let fields = crate::fields!("image" => "test", "count" => 2, "note" => "has spaces");
        assert_eq!(
            f.format("2026-01-01T00:00:00.000Z", Level::Info, "Hello", &fields),
            r#"2026-01-01T00:00:00.000Z [INFO ] Hello image=test count=2 note="has spaces""#
        );
        assert_eq!(f.format("T", Level::Error, "m", &Fields::new()), "T [ERROR] m");
    }

    /// Every character [`is_active`] names, as a test input.
    const ACTIVE: &[char] = &[
        '\u{1b}', '\u{7}', '\r', '\n', '\t', '\0', '\u{8}', '\u{7f}', '\u{80}', '\u{9b}', '\u{9f}', '\u{2028}',
        '\u{2029}', '\u{202e}', '\u{2066}', '\u{200f}',
    ];

    #[test]
    fn text_values_never_carry_a_control_character_raw() {
        let f = ConsoleFormat::from_env(None, None);
        for &c in ACTIVE {
            for value in [format!("{c}"), format!("a{c}b"), format!("out/x{c}[31m.bin")] {
                let fields = crate::fields!("path" => value.clone(), "nested" => vec![value.clone()]);
                let line = f.format("T", Level::Warn, &format!("m{c}"), &fields);
                assert!(!line.chars().any(is_active), "{c:?} raw in {line:?}");
                // The value is quoted and reads back as what was logged.
                let quoted = line.split_once("path=").unwrap().1.split(" nested=").next().unwrap();
                assert_eq!(serde_json::from_str::<String>(quoted).unwrap(), value, "{line:?}");
            }
        }
        // ESC and BEL are not whitespace, and still must not pass bare.
        let line = f.format("T", Level::Warn, "m", &crate::fields!("path" => "/o/\u{1b}]0;pwned\u{7}x\r.bin"));
        assert_eq!(line, r#"T [WARN ] m path="/o/\u001b]0;pwned\u0007x\r.bin""#);
        let line = f.format("T", Level::Warn, "m", &crate::fields!("k" => "\u{9b}2J\u{7f}"));
        assert_eq!(line, r#"T [WARN ] m k="\u009b2J\u007f""#);
        // Plain values stay bare.
        assert_eq!(f.format("T", Level::Info, "m", &crate::fields!("k" => "a/b-é.txt")), "T [INFO ] m k=a/b-é.txt");
    }

    #[test]
    fn json_lines_never_carry_a_control_character_raw_and_parse_back() {
        let f = ConsoleFormat::from_env(Some("json"), None);
        for &c in ACTIVE {
            let value = format!("x{c}y");
            let line = f.format("T", Level::Warn, &value, &crate::fields!("path" => value.clone()));
            assert!(!line.chars().any(is_active), "{c:?} raw in {line:?}");
            let parsed: Value = serde_json::from_str(&line).unwrap();
            assert_eq!((parsed["msg"].as_str(), parsed["path"].as_str()), (Some(&*value), Some(&*value)));
        }
    }

    #[test]
    fn json_lines_put_fields_after_ts_level_msg() {
        let f = ConsoleFormat::from_env(Some("json"), None);
        let line = f.format("T", Level::Warn, "m", &crate::fields!("k" => "v"));
        assert_eq!(line, r#"{"ts":"T","level":"warn","msg":"m","k":"v"}"#);
    }

    #[test]
    fn level_filter() {
        let info = ConsoleFormat::from_env(None, None);
        assert!(!info.enabled(Level::Debug) && info.enabled(Level::Info) && info.enabled(Level::Error));
        let warn = ConsoleFormat::from_env(None, Some("WARN"));
        assert!(!warn.enabled(Level::Info) && warn.enabled(Level::Warn));
        let silent = ConsoleFormat::from_env(None, Some("silent"));
        assert!(!silent.enabled(Level::Error));
        assert!(ConsoleFormat::from_env(None, Some("debug")).enabled(Level::Debug));
    }

    #[tokio::test]
    async fn events_carry_their_spans_fields_first_in_order_and_keep_a_renamed_field_in_place() {
        let lines = Arc::new(Recorded::default());
        let dispatch = dispatch(lines.clone());
        async {
            let span = tracing::info_span!("turn", spaceId = "s1", container = "c-1");
            let _entered = span.enter();
            tracing::info!(event = "container.start", "Container started");
            span.record("container", "c-2");
            tracing::warn!(exitCode = 137_i64, durationMs = 5_u64, "Container exited");
            // A library's events do not reach the host.
            tracing::info!(target: "bollard::docker", "request");
        }
        .with_subscriber(dispatch)
        .await;
        let lines = lines.0.lock().unwrap();
        assert_eq!(lines.len(), 2);
        let (level, msg, fields) = &lines[0];
        assert_eq!((*level, msg.as_str()), (Level::Info, "Container started"));
        assert_eq!(
            serde_json::to_string(fields).unwrap(),
            r#"{"spaceId":"s1","container":"c-1","event":"container.start"}"#
        );
        let (level, msg, fields) = &lines[1];
        assert_eq!((*level, msg.as_str()), (Level::Warn, "Container exited"));
        assert_eq!(
            serde_json::to_string(fields).unwrap(),
            r#"{"spaceId":"s1","container":"c-2","exitCode":137,"durationMs":5}"#
        );
    }
}
