//! The one shape of a host function the runner calls from the engine's
//! threads: a weak threadsafe function (it never keeps the host's process
//! alive), whose errors reach the caller as `Status` errors, without the
//! Node-style error-first argument.

use napi::threadsafe_function::ThreadsafeFunction;
use napi::Status;

/// A host function called with `Value` from any thread, answered with `Return`;
/// `CallArgs` is the JavaScript argument list the value becomes.
pub type JsCallback<Value, Return, CallArgs> = ThreadsafeFunction<Value, Return, CallArgs, Status, false, true>;
