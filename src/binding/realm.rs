//! The realm: the addon's JavaScript half (`realm.js`), evaluated by the
//! package entry in the importer's realm and attached here. Its functions are
//! captured once, as typed references checked when it attaches; each runner
//! keeps the realm that was current when it was constructed, so a runner built
//! in one Jest file builds its errors with that file's classes.

use std::cell::RefCell;
use std::rc::Rc;

use napi::bindgen_prelude::{
    Buffer, FnArgs, FromNapiValue, Function, FunctionRef, JsObjectValue, JsValuesTupleIntoVec, Object, Promise, Unknown,
};
use napi::{Env, JsValue, Result};
use serde_json::{json, Value};

use crate::core::{ErrorClass, ErrorReport, RunError};

/// A captured realm function. Its JavaScript signature is given once, by the
/// typed method of [`Realm`] that calls it.
struct RealmFn(FunctionRef<(), ()>);

impl RealmFn {
    fn read(realm: &Object, name: &str) -> Result<Self> {
        let value: Unknown = realm.get_named_property(name)?;
        if value.get_type()? != napi::ValueType::Function {
            return Err(napi::Error::from_reason(format!("realm.js does not export a function named {name}")));
        }
        // SAFETY: a live function value of this env, checked above.
        Ok(Self(unsafe { FunctionRef::from_napi_value(value.value().env, value.raw()) }?))
    }

    fn typed<'env, Args: JsValuesTupleIntoVec, Ret: FromNapiValue>(
        &self,
        env: &'env Env,
    ) -> Result<Function<'env, Args, Ret>> {
        let function = self.0.borrow_back(env)?;
        // SAFETY: the same live function value, viewed with the signature its caller states.
        unsafe { Function::from_napi_value(env.raw(), function.raw()) }
    }
}

/// The functions of one `realm.js` evaluation.
pub struct Realm {
    make_error: RealmFn,
    payload: RealmFn,
    mercury_env: RealmFn,
    env_var: RealmFn,
    main_script: RealmFn,
    set_members: RealmFn,
    logger_sink: RealmFn,
    console_sink: RealmFn,
    credential_resolver: RealmFn,
    noop: RealmFn,
    /// This package's folder (main.js's `__dirname`), where the egress proxy's binaries are.
    package_dir: Option<String>,
}

/// A host logger's line: `(level, msg, fields)`.
pub type LogLineArgs = FnArgs<(&'static str, String, Value)>;
/// The host's resolver as the runner calls it: `(request) => Promise<token>`.
pub type ResolverFn<'env> = Function<'env, FnArgs<(Value,)>, Promise<Option<String>>>;
/// A console line: `(to stderr, line)`.
pub type ConsoleLineArgs = FnArgs<(bool, String)>;

thread_local! {
    // The realm attached last on this thread's JavaScript environment: the one a
    // runner constructed now belongs to. Jest loads the package once per test file.
    static CURRENT: RefCell<Option<Rc<Realm>>> = const { RefCell::new(None) };
}

/// Captures `realm` as the current realm, checking that it has every function.
pub fn attach(realm: &Object) -> Result<()> {
    let captured = Rc::new(Realm {
        make_error: RealmFn::read(realm, "makeError")?,
        payload: RealmFn::read(realm, "payload")?,
        mercury_env: RealmFn::read(realm, "mercuryEnv")?,
        env_var: RealmFn::read(realm, "envVar")?,
        main_script: RealmFn::read(realm, "mainScript")?,
        set_members: RealmFn::read(realm, "setMembers")?,
        logger_sink: RealmFn::read(realm, "loggerSink")?,
        console_sink: RealmFn::read(realm, "consoleSink")?,
        credential_resolver: RealmFn::read(realm, "credentialResolver")?,
        noop: RealmFn::read(realm, "noop")?,
        // The package's folder is the same whatever realm attaches: one that does not say it
        // (a test's vm realm, a second attach of realm.js) keeps the folder main.js gave.
        package_dir: realm
            .get_named_property::<Option<String>>("packageDir")
            .ok()
            .flatten()
            .or_else(|| CURRENT.with(|cell| cell.borrow().as_ref().and_then(|r| r.package_dir.clone()))),
    });
    CURRENT.with(|cell| *cell.borrow_mut() = Some(captured));
    Ok(())
}

/// The realm attached last.
pub fn current() -> Result<Rc<Realm>> {
    CURRENT.with(|cell| cell.borrow().clone()).ok_or_else(|| {
        napi::Error::from_reason("load @mercury-ai/container-runner through its package entry (main.js), not index.js")
    })
}

impl Realm {
    /// A `ContainerError`, `TypeError` or `Error` of this realm, built by
    /// `makeError` from `report` in one step, and wrapped so that napi throws
    /// or rejects with that very value.
    pub fn error(&self, env: &Env, report: &ErrorReport) -> napi::Error {
        let class = match report.class {
            ErrorClass::Container => "container",
            ErrorClass::Type => "type",
            ErrorClass::Plain => "plain",
        };
        let description = json!({
            "class": class,
            "reason": report.reason,
            "exitCode": report.exit_code,
            "message": report.message,
            "oomKilled": report.oom_killed,
            "cause": report.cause,
        });
        let built =
            self.make_error.typed::<FnArgs<(Value,)>, Unknown>(env).and_then(|make| make.call((description,).into()));
        match built {
            Ok(value) => napi::Error::from(value),
            Err(e) => e,
        }
    }

    /// A `TypeError` for bad input from the host.
    pub fn type_error(&self, env: &Env, message: impl Into<String>) -> napi::Error {
        self.error(env, &RunError::InvalidInput(message.into()).report())
    }

    /// `JSON.stringify({ ...input, spaceWorkspace, callerRole })` as UTF-8 bytes.
    pub fn payload(&self, env: &Env, input: Object, workspace: &str, caller_role: &str) -> Result<Buffer> {
        self.payload.typed::<FnArgs<(Object, &str, &str)>, Buffer>(env)?.call((input, workspace, caller_role).into())
    }

    /// `process.env`'s `MERCURY_*` entries, now.
    pub fn mercury_env(&self, env: &Env) -> Result<Vec<(String, String)>> {
        let pairs: Vec<Vec<String>> = self.mercury_env.typed::<(), Vec<Vec<String>>>(env)?.call(())?;
        Ok(pairs
            .into_iter()
            .filter_map(|mut pair| {
                let value = pair.pop()?;
                let name = pair.pop()?;
                Some((name, value))
            })
            .collect())
    }

    /// `process.env[name]` when it is a string.
    pub fn env_var(&self, env: &Env, name: &str) -> Result<Option<String>> {
        self.env_var.typed::<FnArgs<(&str,)>, Option<String>>(env)?.call((name,).into())
    }

    /// `process.argv[1]`.
    pub fn package_dir(&self) -> Option<&str> {
        self.package_dir.as_deref()
    }

    pub fn main_script(&self, env: &Env) -> Result<Option<String>> {
        self.main_script.typed::<(), Option<String>>(env)?.call(())
    }

    /// A `Set`'s members (a `Set` of any realm); None when `value` is not one.
    pub fn set_members<'env>(&self, env: &'env Env, value: Unknown<'env>) -> Result<Option<Vec<Unknown<'env>>>> {
        self.set_members.typed::<FnArgs<(Unknown,)>, Option<Vec<Unknown>>>(env)?.call((value,).into())
    }

    /// A function that writes a line to the host's `logger` (looking its method up at each call).
    pub fn logger_sink<'env>(&self, env: &'env Env, logger: &Object) -> Result<Function<'env, LogLineArgs, ()>> {
        self.logger_sink.typed::<FnArgs<(Object,)>, Function<LogLineArgs, ()>>(env)?.call((*logger,).into())
    }

    /// The function that writes a line to `console.log` or `console.error`.
    pub fn console_sink<'env>(&self, env: &'env Env) -> Result<Function<'env, ConsoleLineArgs, ()>> {
        self.console_sink.typed(env)
    }

    /// The host's resolver as `(request) => Promise<token>`: a throw becomes a rejection.
    pub fn credential_resolver<'env>(
        &self,
        env: &'env Env,
        resolve: Function<'env, (), ()>,
    ) -> Result<ResolverFn<'env>> {
        self.credential_resolver.typed::<FnArgs<(Function<(), ()>,)>, ResolverFn>(env)?.call((resolve,).into())
    }

    /// A function that does nothing, to hold the event loop open through a threadsafe call.
    pub fn noop<'env>(&self, env: &'env Env) -> Result<Function<'env, (), ()>> {
        self.noop.typed(env)
    }
}
