//! Log lines: the sink the runner writes to, and the host's own console format
//! for when the host passes no logger.

use std::sync::Arc;

use serde_json::{Map, Value};

/// Structured fields of one line, in insertion order.
pub type Fields = Map<String, Value>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    /// The host logger's method name.
    pub fn method(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// Where the runner's lines go. Implementations must not block: lines are
/// written from the engine's tasks.
pub trait LogSink: Send + Sync {
    fn log(&self, level: Level, msg: &str, fields: Fields);
}

/// A cheap-clone handle on a sink, with fields added to every line (a run's
/// `spaceId` and `container`).
#[derive(Clone)]
pub struct Logger {
    sink: Arc<dyn LogSink>,
    context: Fields,
}

impl Logger {
    pub fn new(sink: Arc<dyn LogSink>) -> Self {
        Self { sink, context: Fields::new() }
    }

    /// A logger whose lines also carry `fields`.
    pub fn with(&self, fields: Fields) -> Self {
        let mut context = self.context.clone();
        context.extend(fields);
        Self { sink: self.sink.clone(), context }
    }

    pub fn log(&self, level: Level, msg: &str, fields: Fields) {
        let mut all = self.context.clone();
        all.extend(fields);
        self.sink.log(level, msg, all);
    }

    pub fn debug(&self, msg: &str, fields: Fields) {
        self.log(Level::Debug, msg, fields)
    }
    pub fn info(&self, msg: &str, fields: Fields) {
        self.log(Level::Info, msg, fields)
    }
    pub fn warn(&self, msg: &str, fields: Fields) {
        self.log(Level::Warn, msg, fields)
    }
    pub fn error(&self, msg: &str, fields: Fields) {
        self.log(Level::Error, msg, fields)
    }
}

/// Builds [`Fields`] from `key => value` pairs.
#[macro_export]
macro_rules! fields {
    () => { $crate::core::log::Fields::new() };
    ($($key:literal => $value:expr),+ $(,)?) => {{
        let mut f = $crate::core::log::Fields::new();
        $( f.insert($key.to_owned(), ::serde_json::json!($value)); )+
        f
    }};
}

/// The host's console output settings, from `MERCURY_LOG_FORMAT` and `MERCURY_LOG_LEVEL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsoleFormat {
    pub json: bool,
    /// None: `silent`.
    pub min_level: Option<Level>,
}

impl ConsoleFormat {
    pub fn from_env(format: Option<&str>, level: Option<&str>) -> Self {
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

    pub fn enabled(&self, level: Level) -> bool {
        self.min_level.is_some_and(|min| level >= min)
    }

    /// One console line, without the newline; `ts` is an ISO-8601 UTC time.
    pub fn format(&self, ts: &str, level: Level, msg: &str, fields: &Fields) -> String {
        if self.json {
            let mut obj = Map::new();
            obj.insert("ts".into(), Value::from(ts));
            obj.insert("level".into(), Value::from(level.method()));
            obj.insert("msg".into(), Value::from(msg));
            for (k, v) in fields {
                obj.insert(k.clone(), v.clone());
            }
            return Value::Object(obj).to_string();
        }
        let mut line = format!("{ts} [{:<5}] {msg}", level.method().to_uppercase());
        for (k, v) in fields {
            line.push(' ');
            line.push_str(k);
            line.push('=');
            match v {
                Value::String(s) if !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c == '"' || c == '=') => {
                    line.push_str(s)
                }
                other => line.push_str(&other.to_string()),
            }
        }
        line
    }
}

/// `Date.prototype.toISOString()` for epoch milliseconds.
pub fn iso_timestamp(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z", rem / 3600, rem % 3600 / 60, rem % 60, ms % 1000)
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_timestamps_match_javascript() {
        assert_eq!(iso_timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_timestamp(1_767_225_600_000), "2026-01-01T00:00:00.000Z");
        assert_eq!(iso_timestamp(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(iso_timestamp(1_798_761_599_999), "2026-12-31T23:59:59.999Z");
    }

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
}
