//! The runner's log lines, delivered on the JavaScript thread: to the host's
//! logger object when it gave one, else to the console in the host's format.

use napi::bindgen_prelude::{FnArgs, Object};
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi::{Env, Result};
use serde_json::Value;

use super::js_callback::JsCallback;
use super::realm::{ConsoleLineArgs, LogLineArgs, Realm};
use crate::core::{iso_timestamp, now_ms};
use crate::core::{ConsoleFormat, Fields, Level, LogSink};

type HostTsfn = JsCallback<(Level, String, Fields), (), LogLineArgs>;
type ConsoleTsfn = JsCallback<(bool, String), (), ConsoleLineArgs>;

pub enum JsLogSink {
    Host(HostTsfn),
    Console { format: ConsoleFormat, tsfn: ConsoleTsfn },
}

impl JsLogSink {
    /// A sink over the host's logger object.
    pub fn host(env: &Env, realm: &Realm, logger: &Object) -> Result<Self> {
        let tsfn = realm
            .logger_sink(env, logger)?
            .build_threadsafe_function::<(Level, String, Fields)>()
            .weak::<true>()
            .callee_handled::<false>()
            .build_callback(|ctx| {
                let (level, msg, fields) = ctx.value;
                Ok(FnArgs::from((level.method(), msg, Value::Object(fields))))
            })?;
        Ok(JsLogSink::Host(tsfn))
    }

    /// A sink writing the host's console format through `console.log`/`console.error`.
    pub fn console(env: &Env, realm: &Realm, format: ConsoleFormat) -> Result<Self> {
        let tsfn = realm
            .console_sink(env)?
            .build_threadsafe_function::<(bool, String)>()
            .weak::<true>()
            .callee_handled::<false>()
            .build_callback(|ctx| Ok(FnArgs::from(ctx.value)))?;
        Ok(JsLogSink::Console { format, tsfn })
    }
}

/// Logs one line right now, on the JavaScript thread (for the constructor,
/// whose warning the host expects before `new` returns).
pub fn log_now(
    env: &Env,
    realm: &Realm,
    logger: Option<&Object>,
    format: ConsoleFormat,
    level: Level,
    msg: &str,
    fields: Fields,
) -> Result<()> {
    match logger {
        Some(logger) => {
            realm.logger_sink(env, logger)?.call((level.method(), msg.to_owned(), Value::Object(fields)).into())
        }
        None => match console_line(format, level, msg, &fields) {
            Some(line) => realm.console_sink(env)?.call(line.into()),
            None => Ok(()),
        },
    }
}

/// `(to stderr, line)`, or None when the level is filtered out.
fn console_line(format: ConsoleFormat, level: Level, msg: &str, fields: &Fields) -> Option<(bool, String)> {
    if !format.enabled(level) {
        return None;
    }
    Some((level >= Level::Warn, format.format(&iso_timestamp(now_ms()), level, msg, fields)))
}

impl LogSink for JsLogSink {
    fn log(&self, level: Level, msg: &str, fields: Fields) {
        // NonBlocking on an unbounded queue: a slow console never stalls a run.
        match self {
            JsLogSink::Host(tsfn) => {
                tsfn.call((level, msg.to_owned(), fields), ThreadsafeFunctionCallMode::NonBlocking);
            }
            JsLogSink::Console { format, tsfn } => {
                if let Some(line) = console_line(*format, level, msg, &fields) {
                    tsfn.call(line, ThreadsafeFunctionCallMode::NonBlocking);
                }
            }
        }
    }
}
