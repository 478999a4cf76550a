//! Standby containers (`options.standby`). When a space's turn ends, the
//! runner prepares that space's next container in the background from the spec
//! the turn used: created, attached with stdin open, started, the agent waiting
//! on its stdin. A later turn of the space whose freshly computed spec is the
//! same (the name aside) claims it and only writes its payload; any difference
//! discards it and the turn starts cold.
//!
//! A standby is not a run: the runs in flight (`runs`) never count it. Each lives in a keeper
//! task that owns its attach streams and removes its container when it is
//! discarded, evicted, idle too long, or found dead. [`Book`] is the
//! bookkeeping (one per space, least recently used out beyond `max`, idle
//! expiry), kept pure so it is unit-tested without an engine.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;
use tracing::instrument::WithSubscriber;
use tracing::{Dispatch, Instrument};

use super::config::StandbyOptions;
use super::plain_sources::PlainSources;
use super::spec::container_name;
use crate::core::clock::now_ms;
use crate::core::engine::client::{Attached, Chunk, Engine, Input, Output};
use crate::core::engine::container::ContainerSpec;
use crate::core::untrusted::output::OutputScanner;

/// What an idle standby may print before its turn (an agent that talks before
/// reading its input). Kept for the turn's error text, never as its result;
/// past this the standby is discarded, so an idle container cannot make the
/// runner hold its output. Also what the claim reads at most of what waits.
pub(crate) const MAX_IDLE_OUTPUT_BYTES: usize = 64 * 1024;

/// What a space's standby is prepared from: the spec of its turn that just
/// ended, and the bind sources that turn checked, checked again before the create.
#[derive(Debug, Clone)]
pub(crate) struct Next {
    pub spec: ContainerSpec,
    pub sources: PlainSources,
}

/// Why a turn did not claim its space's standby. Names only: an environment
/// value may be a secret, so a reason never shows one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Miss {
    Image,
    /// The variables whose value differs or that only one side has.
    Env(Vec<String>),
    /// The same variables in another order.
    EnvOrder,
    Mounts,
    /// Memory limit, hardening options or host mapping.
    Limits,
    /// Its container ended, or could not be prepared, before the turn claimed it.
    Gone,
}

impl std::fmt::Display for Miss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Miss::Image => write!(f, "another image"),
            Miss::Env(names) => write!(f, "environment differs: {}", names.join(", ")),
            Miss::EnvOrder => write!(f, "environment in another order"),
            Miss::Mounts => write!(f, "other mounts"),
            Miss::Limits => write!(f, "other limits or hardening"),
            Miss::Gone => write!(f, "the standby ended before it was claimed"),
        }
    }
}

/// Whether a turn whose spec is `turn` may claim a standby prepared with
/// `standby`: every field equal but the name.
pub(crate) fn compare(standby: &ContainerSpec, turn: &ContainerSpec) -> Result<(), Miss> {
    if standby.image != turn.image {
        return Err(Miss::Image);
    }
    if standby.env != turn.env {
        return Err(env_difference(&standby.env, &turn.env));
    }
    if standby.mounts != turn.mounts {
        return Err(Miss::Mounts);
    }
    let named_alike = ContainerSpec { name: String::new(), ..standby.clone() };
    if named_alike != (ContainerSpec { name: String::new(), ..turn.clone() }) {
        return Err(Miss::Limits);
    }
    Ok(())
}

fn env_difference(a: &[String], b: &[String]) -> Miss {
    let split = |entry: &String| match entry.split_once('=') {
        Some((name, value)) => (name.to_owned(), value.to_owned()),
        None => (entry.clone(), String::new()),
    };
    let (a, b): (Vec<_>, Vec<_>) = (a.iter().map(split).collect(), b.iter().map(split).collect());
    let value = |list: &[(String, String)], name: &str| list.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    let mut names: Vec<String> = Vec::new();
    for (name, _) in a.iter().chain(b.iter()) {
        if value(&a, name) != value(&b, name) && !names.contains(name) {
            names.push(name.clone());
        }
    }
    if names.is_empty() {
        Miss::EnvOrder
    } else {
        Miss::Env(names)
    }
}

/// One standby in the book, with `slot`, what the runner keeps to reach it.
#[derive(Debug)]
pub(crate) struct Entry<T> {
    pub key: u64,
    pub space_id: String,
    pub name: String,
    pub spec: ContainerSpec,
    /// When it was booked, then when it became ready: idle time counts from here.
    pub since: Instant,
    pub slot: T,
}

/// The standbys of one runner: at most one per space, at most `max` in all.
#[derive(Debug)]
pub(crate) struct Book<T> {
    /// Least recently used first: a space's standby is booked right after its latest turn.
    entries: Vec<Entry<T>>,
    /// Containers being removed after leaving the book (process exit removes them too).
    leaving: Vec<String>,
    /// Containers whose create request is in flight: process exit waits for it, or
    /// its removal could reach the engine before the create and miss.
    creating: Vec<String>,
    next_key: u64,
    max: usize,
}

impl<T> Book<T> {
    pub(crate) fn new(max: usize) -> Self {
        Self { entries: Vec::new(), leaving: Vec::new(), creating: Vec::new(), next_key: 0, max: max.max(1) }
    }

    /// Books the next standby of `space_id`. Returns its key and the entries it
    /// pushed out: the space's previous standby, and the least recently used beyond `max`.
    pub(crate) fn book(
        &mut self,
        space_id: &str,
        name: &str,
        spec: ContainerSpec,
        slot: T,
        now: Instant,
    ) -> (u64, Vec<Entry<T>>) {
        let mut out: Vec<Entry<T>> = Vec::new();
        if let Some(i) = self.entries.iter().position(|e| e.space_id == space_id) {
            out.push(self.entries.remove(i));
        }
        self.next_key += 1;
        let key = self.next_key;
        self.entries.push(Entry { key, space_id: space_id.to_owned(), name: name.to_owned(), spec, since: now, slot });
        while self.entries.len() > self.max {
            out.push(self.entries.remove(0));
        }
        (key, out)
    }

    /// The standby is up: its idle time starts now.
    pub(crate) fn ready(&mut self, key: u64, now: Instant) -> bool {
        match self.entries.iter_mut().find(|e| e.key == key) {
            Some(entry) => {
                entry.since = now;
                true
            }
            None => false,
        }
    }

    /// Takes the standby of `space_id` out of the book, whatever the claim's verdict:
    /// it never serves two turns, and one that does not match is discarded.
    pub(crate) fn take(&mut self, space_id: &str) -> Option<Entry<T>> {
        let i = self.entries.iter().position(|e| e.space_id == space_id)?;
        Some(self.entries.remove(i))
    }

    pub(crate) fn remove(&mut self, key: u64) -> Option<Entry<T>> {
        let i = self.entries.iter().position(|e| e.key == key)?;
        Some(self.entries.remove(i))
    }

    /// Removes the standby `key` if it has been idle for `idle` by `now`.
    pub(crate) fn expire(&mut self, key: u64, now: Instant, idle: Duration) -> Option<Entry<T>> {
        let i = self.entries.iter().position(|e| e.key == key && now >= e.since + idle)?;
        Some(self.entries.remove(i))
    }

    /// Every standby, out of the book (`killAll`, `cleanupOrphans`); their
    /// containers count as leaving until their keepers say they are gone.
    pub(crate) fn drain(&mut self) -> Vec<Entry<T>> {
        let drained = std::mem::take(&mut self.entries);
        self.leaving.extend(drained.iter().map(|e| e.name.clone()));
        drained
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.leaving.is_empty()
    }

    /// A container now being removed; process exit removes it if its keeper cannot.
    pub(crate) fn leaving(&mut self, name: &str) {
        self.leaving.push(name.to_owned());
    }

    pub(crate) fn left(&mut self, name: &str) {
        self.leaving.retain(|n| n != name);
    }

    /// Its create request is going to the engine.
    pub(crate) fn creating(&mut self, name: &str) {
        self.creating.push(name.to_owned());
    }

    /// Its create request was answered (or failed).
    pub(crate) fn created(&mut self, name: &str) {
        self.creating.retain(|n| n != name);
    }

    /// Whether a create request is in flight.
    pub(crate) fn any_creating(&self) -> bool {
        !self.creating.is_empty()
    }

    /// The containers of every standby, booked or being removed.
    pub(crate) fn names(&self) -> Vec<String> {
        self.entries.iter().map(|e| e.name.clone()).chain(self.leaving.iter().cloned()).collect()
    }
}

/// A claimed standby: its container and attach streams, now the turn's.
/// Dropped unused, its container is removed (streams held until then, so the
/// agent never sees its stdin close and runs with no input).
pub(crate) struct Claimed {
    pub id: String,
    pub name: String,
    parts: Option<Parts>,
    engine: Engine,
}

struct Parts {
    input: Input,
    output: Output,
    /// What the agent printed while idle.
    scanner: OutputScanner,
}

impl Claimed {
    /// The streams, the turn's from now on (the turn removes the container).
    /// What the agent printed before the claim, read while it was idle or
    /// already waiting to be read, is kept for error text, but no result in it
    /// counts: a turn's result is what its agent prints once it has its payload.
    pub(crate) fn take(mut self) -> Option<(Input, Output, OutputScanner)> {
        let mut parts = self.parts.take()?;
        drain_ready(&mut parts.output, &mut parts.scanner);
        parts.scanner.forget_result();
        Some((parts.input, parts.output, parts.scanner))
    }
}

/// Reads what the output stream holds already, without waiting, up to
/// [`MAX_IDLE_OUTPUT_BYTES`] (an agent printing without pause must not keep the
/// claim here). An end of the stream met here is put back for the turn to meet.
fn drain_ready(output: &mut Output, scanner: &mut OutputScanner) {
    let mut drained = 0usize;
    while drained < MAX_IDLE_OUTPUT_BYTES {
        match output.next().now_or_never() {
            Some(Some(Ok(Chunk::Stdout(bytes)))) => {
                drained += bytes.len();
                scanner.push_stdout(&bytes);
            }
            Some(Some(Ok(Chunk::Stderr(bytes)))) => {
                drained += bytes.len();
                scanner.push_stderr(&bytes);
            }
            Some(end) => {
                *output = Box::pin(futures_util::stream::iter(end));
                return;
            }
            None => return,
        }
    }
}

impl Drop for Claimed {
    fn drop(&mut self) {
        let Some(parts) = self.parts.take() else {
            return;
        };
        let (engine, id) = (self.engine.clone(), self.id.clone());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(
                async move {
                    if let Err(e) = engine.remove_until_gone(&id).await {
                        tracing::warn!(error = %e, "Failed to remove container; cleanupOrphans will remove it");
                    }
                    drop(parts);
                }
                .in_current_span()
                .with_current_subscriber(),
            );
        }
    }
}

/// A claim sent to a standby's keeper; resolves once the keeper hands it over
/// (at once when it is idle, or when its preparation is done).
pub(crate) struct Claiming {
    reply: oneshot::Receiver<Claimed>,
}

impl Claiming {
    /// None when the standby ended or failed to come up before it was handed over.
    pub(crate) async fn claimed(self) -> Option<Claimed> {
        self.reply.await.ok()
    }
}

/// How a claim reaches a keeper; dropping it tells the keeper to remove its container.
type ClaimSender = oneshot::Sender<oneshot::Sender<Claimed>>;

/// The standbys of one runner. Cheap to clone; keepers hold a clone.
#[derive(Clone)]
pub(crate) struct Standbys {
    book: Arc<Mutex<Book<ClaimSender>>>,
    /// Counts the create requests answered, so that process exit waits for
    /// them without polling the book.
    creates_answered: watch::Sender<u64>,
    options: StandbyOptions,
    engine: Engine,
    /// The runner's `<n>` counter: a standby is named as any container of the runner.
    counter: Arc<AtomicU64>,
    log: Dispatch,
}

impl Standbys {
    pub(crate) fn new(options: StandbyOptions, engine: Engine, counter: Arc<AtomicU64>, log: Dispatch) -> Self {
        let book = Arc::new(Mutex::new(Book::new(options.max)));
        Self { book, creates_answered: watch::Sender::new(0), options, engine, counter, log }
    }

    fn lock(&self) -> MutexGuard<'_, Book<ClaimSender>> {
        // Every change to the book is a single push or remove: a poisoned lock still holds a whole book.
        self.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Books the next container of `space_id`, from its turn that just ended,
    /// and prepares it in the background. Call inside the runtime.
    pub(crate) fn prepare(&self, space_id: &str, next: Next) {
        let name = container_name(now_ms(), self.counter.fetch_add(1, Ordering::Relaxed) + 1);
        let spec = ContainerSpec { name: name.clone(), ..next.spec };
        let (claims, claimed) = oneshot::channel();
        let pushed_out = {
            let mut book = self.lock();
            let (key, pushed_out) = book.book(space_id, &name, spec.clone(), claims, Instant::now());
            for entry in &pushed_out {
                book.leaving(&entry.name);
            }
            // From the booking on, not from the keeper's first step: process exit must wait for
            // its create even when the keeper has not run yet, or is checking the mounts' sources.
            book.creating(&name);
            (key, pushed_out)
        };
        let (key, pushed_out) = pushed_out;
        // Their keepers see the dropped senders and remove the containers.
        drop(pushed_out);
        let span = tracing::dispatcher::with_default(&self.log, || {
            tracing::debug_span!("standby", spaceId = space_id, container = name.as_str())
        });
        let keeper = keep(self.clone(), key, spec, next.sources, claimed);
        tokio::spawn(keeper.instrument(span).with_subscriber(self.log.clone()));
    }

    /// The claim of a turn whose spec is `spec`, when its space has a standby
    /// with the same spec. The space's standby leaves the book either way; the
    /// decision is logged at debug.
    pub(crate) fn claim(&self, space_id: &str, spec: &ContainerSpec) -> Option<Claiming> {
        let entry = self.lock().take(space_id)?;
        if let Err(miss) = compare(&entry.spec, spec) {
            tracing::debug!(standby = entry.name.as_str(), reason = %miss, "Standby not used");
            return None;
        }
        let (reply, claimed) = oneshot::channel();
        if entry.slot.send(reply).is_err() {
            tracing::debug!(standby = entry.name.as_str(), reason = %Miss::Gone, "Standby not used");
            return None;
        }
        Some(Claiming { reply: claimed })
    }

    /// Discards the standby of `space_id`, if it has one (`abort`); its container is removed in the background.
    pub(crate) fn discard(&self, space_id: &str) {
        let taken = {
            let mut book = self.lock();
            let taken = book.take(space_id);
            if let Some(entry) = &taken {
                // Process exit removes it, should its keeper not get to it first.
                book.leaving(&entry.name);
            }
            taken
        };
        // Its keeper sees the claim sender dropped and removes the container.
        drop(taken);
    }

    /// Discards every standby (`killAll`, `cleanupOrphans`); their containers are removed in the background.
    pub(crate) fn discard_all(&self) {
        drop(self.lock().drain());
    }

    /// The containers of every standby, for process exit.
    pub(crate) fn names(&self) -> Vec<String> {
        self.lock().names()
    }

    /// Waits (up to `bound`) until no standby's create request is in flight, so
    /// that the removals process exit makes reach containers that exist.
    pub(crate) async fn settle_creates(&self, bound: Duration) {
        let deadline = Instant::now() + bound;
        // Subscribed before each look at the book: an answer after the look marks it changed.
        let mut answered = self.creates_answered.subscribe();
        while self.lock().any_creating() {
            // The sender lives in `self`, so `changed` fails only past the deadline.
            if !matches!(tokio::time::timeout_at(deadline, answered.changed()).await, Ok(Ok(()))) {
                return;
            }
        }
    }

    /// A standby's create request was answered (or never sent): the book first, then whoever waits.
    fn create_answered(&self, name: &str) {
        self.lock().created(name);
        self.creates_answered.send_modify(|n| *n += 1);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn gone(&self, key: u64) {
        drop(self.lock().remove(key));
    }

    /// Removes a standby's container, keeping `streams` until it is gone.
    async fn remove<S>(&self, id: &str, name: &str, why: &'static str, streams: S) {
        self.lock().leaving(name);
        match self.engine.remove_until_gone(id).await {
            Ok(()) => tracing::debug!(reason = why, "Standby removed"),
            Err(e) => tracing::warn!(error = %e, reason = why, "Failed to remove standby container"),
        }
        drop(streams);
        self.lock().left(name);
    }
}

/// Prepares one standby, then keeps it until it is claimed, discarded, expires or dies.
async fn keep(
    standbys: Standbys,
    key: u64,
    spec: ContainerSpec,
    sources: PlainSources,
    claims: oneshot::Receiver<oneshot::Sender<Claimed>>,
) {
    let name = spec.name.clone();
    keep_until_done(&standbys, key, spec, sources, claims).await;
    // Whatever happened, it is no longer this runner's to remove at exit (a claimed one is its run's).
    standbys.lock().left(&name);
}

async fn keep_until_done(
    standbys: &Standbys,
    key: u64,
    spec: ContainerSpec,
    sources: PlainSources,
    claims: oneshot::Receiver<oneshot::Sender<Claimed>>,
) {
    let name = spec.name.clone();
    if let Some((id, attached)) = bring_up(standbys, key, spec, sources).await {
        idle(standbys, key, id, name, attached, claims).await;
    }
}

/// Checks the mounts' sources, then creates, attaches and starts the standby's
/// container; None (the book updated, anything made removed) when a step fails.
async fn bring_up(
    standbys: &Standbys,
    key: u64,
    spec: ContainerSpec,
    sources: PlainSources,
) -> Option<(String, Attached)> {
    let engine = &standbys.engine;
    let name = spec.name.clone();
    // As a turn checks them before its create: the engine would follow a link.
    let checked = tokio::task::spawn_blocking(move || sources.check())
        .await
        .unwrap_or_else(|e| Err(format!("the check of the mounts' sources failed: {e}")));
    if let Err(reason) = checked {
        standbys.create_answered(&name);
        tracing::warn!(reason, "Standby not prepared");
        standbys.gone(key);
        return None;
    }
    let created = engine.create(&spec).await;
    standbys.create_answered(&name);
    let id = match created {
        Ok(id) => id,
        Err(e) => {
            tracing::debug!(error = %e, "Standby not prepared");
            standbys.gone(key);
            return None;
        }
    };
    let attached = match engine.attach(&id).await {
        Ok(attached) => attached,
        Err(e) => {
            tracing::debug!(error = %e, "Standby not prepared");
            standbys.gone(key);
            standbys.remove(&id, &name, "not prepared", ()).await;
            return None;
        }
    };
    if let Err(e) = engine.start(&id).await {
        tracing::debug!(error = %e, "Standby not prepared");
        standbys.gone(key);
        standbys.remove(&id, &name, "not prepared", attached).await;
        return None;
    }
    Some((id, attached))
}

/// Keeps a started standby until it is claimed (handed over with its
/// streams), discarded, expires, prints too much, or its container ends.
async fn idle(
    standbys: &Standbys,
    key: u64,
    id: String,
    name: String,
    attached: Attached,
    mut claims: oneshot::Receiver<oneshot::Sender<Claimed>>,
) {
    let engine = &standbys.engine;
    let ready = standbys.lock().ready(key, Instant::now());
    tracing::debug!("Standby ready");
    let mut input = Some(attached.input);
    let mut output: Output = attached.output;
    let mut scanner = OutputScanner::default();
    let mut printed = 0usize;
    let expiry = tokio::time::sleep(standbys.options.idle);
    tokio::pin!(expiry);
    // Not in the book any more (discarded while it started): its claim sender is gone, so `claims` ends at once.
    let mut expiry_armed = ready;
    loop {
        tokio::select! {
            claim = &mut claims => {
                match claim {
                    Ok(reply) => {
                        let parts = input.take().map(|input| Parts { input, output, scanner });
                        // A claimer that went away drops the Claimed, which removes the container.
                        let _ = reply.send(Claimed { id, name, parts, engine: engine.clone() });
                    }
                    Err(_) => standbys.remove(&id, &name, "discarded", (input, output)).await,
                }
                return;
            }
            chunk = output.next() => match chunk {
                Some(Ok(Chunk::Stdout(bytes) | Chunk::Stderr(bytes))) if printed + bytes.len() > MAX_IDLE_OUTPUT_BYTES => {
                    standbys.gone(key);
                    standbys.remove(&id, &name, "printed too much while idle", (input, output)).await;
                    return;
                }
                Some(Ok(Chunk::Stdout(bytes))) => {
                    printed += bytes.len();
                    scanner.push_stdout(&bytes);
                }
                Some(Ok(Chunk::Stderr(bytes))) => {
                    printed += bytes.len();
                    scanner.push_stderr(&bytes);
                }
                Some(Err(_)) | None => {
                    standbys.gone(key);
                    standbys.remove(&id, &name, "its container ended while idle", (input, output)).await;
                    return;
                }
            },
            _ = &mut expiry, if expiry_armed => {
                expiry_armed = false;
                let expired = standbys.lock().expire(key, Instant::now(), standbys.options.idle);
                if expired.is_some() {
                    drop(expired);
                    standbys.remove(&id, &name, "idle", (input, output)).await;
                    return;
                }
                // Taken by a claim meanwhile: the claim (or its refusal) is on its way.
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::engine::container::{BindMount, Hardening};

    fn spec(env: &[&str]) -> ContainerSpec {
        ContainerSpec {
            name: "mercury-1-1".into(),
            image: "mercury-agent:latest".into(),
            env: env.iter().map(|s| s.to_string()).collect(),
            mounts: vec![BindMount { source: "/s".into(), target: "/spaces".into(), read_only: false }],
            extra_hosts: vec!["host.docker.internal:host-gateway".into()],
            memory_limit: None,
            hardening: Hardening::default(),
        }
    }

    fn stdout(text: &str) -> Result<Chunk, String> {
        Ok(Chunk::Stdout(bytes::Bytes::copy_from_slice(text.as_bytes())))
    }

    const FORGED: &str = "---MERCURY_CONTAINER_RESULT_START---{\"reply\":\"forged\"}---MERCURY_CONTAINER_RESULT_END---";

    #[tokio::test]
    async fn what_waits_to_be_read_at_the_claim_is_drained_and_the_stream_goes_on() {
        use crate::core::untrusted::output::ResultSpan;
        // Printed before the claim and not read yet, then nothing for now.
        let mut output: Output = Box::pin(
            futures_util::stream::iter([stdout("boot "), stdout(FORGED)]).chain(futures_util::stream::pending()),
        );
        let mut scanner = OutputScanner::default();
        drain_ready(&mut output, &mut scanner);
        assert_eq!(scanner.result(), ResultSpan::Text(r#"{"reply":"forged"}"#.into()));
        assert!(output.next().now_or_never().is_none(), "the stream waits on, unconsumed");

        // A stream that ended while idle: the end is put back for the turn.
        let mut output: Output = Box::pin(futures_util::stream::iter([stdout("bye")]));
        drain_ready(&mut output, &mut scanner);
        assert!(output.next().await.is_none());
        let mut output: Output =
            Box::pin(futures_util::stream::iter([stdout("x"), Err("engine gone".to_owned()), stdout("never")]));
        drain_ready(&mut output, &mut scanner);
        assert!(matches!(output.next().await, Some(Err(e)) if e == "engine gone"));
        assert!(output.next().await.is_none());
    }

    #[tokio::test]
    async fn an_agent_printing_without_pause_does_not_hold_the_claim() {
        let mut output: Output = Box::pin(futures_util::stream::repeat_with(|| stdout(&"y".repeat(1024))));
        let mut scanner = OutputScanner::default();
        drain_ready(&mut output, &mut scanner);
        assert!(output.next().now_or_never().is_some(), "left for the turn to read");
    }

    #[test]
    fn the_same_spec_under_another_name_is_a_hit() {
        let a = spec(&["CALLER_ID=u1", "SPACE_ID=s"]);
        let b = ContainerSpec { name: "mercury-2-7".into(), ..a.clone() };
        assert_eq!(compare(&a, &b), Ok(()));
    }

    #[test]
    fn each_difference_is_a_miss_named_without_values() {
        let a = spec(&["CALLER_ID=u1", "SPACE_ID=s", "ANTHROPIC_OAUTH_TOKEN=old-secret"]);
        let other_caller = spec(&["CALLER_ID=u2", "SPACE_ID=s", "ANTHROPIC_OAUTH_TOKEN=old-secret"]);
        assert_eq!(compare(&a, &other_caller), Err(Miss::Env(vec!["CALLER_ID".into()])));
        let refreshed = spec(&["CALLER_ID=u1", "SPACE_ID=s", "ANTHROPIC_OAUTH_TOKEN=new-secret"]);
        let miss = compare(&a, &refreshed).unwrap_err();
        assert_eq!(miss, Miss::Env(vec!["ANTHROPIC_OAUTH_TOKEN".into()]));
        assert!(!miss.to_string().contains("secret"), "{miss}");
        let extra = spec(&["CALLER_ID=u1", "SPACE_ID=s", "ANTHROPIC_OAUTH_TOKEN=old-secret", "FOO=1"]);
        assert_eq!(compare(&a, &extra), Err(Miss::Env(vec!["FOO".into()])));
        let reordered = spec(&["SPACE_ID=s", "CALLER_ID=u1", "ANTHROPIC_OAUTH_TOKEN=old-secret"]);
        assert_eq!(compare(&a, &reordered), Err(Miss::EnvOrder));
        let image = ContainerSpec { image: "mercury-agent:next".into(), ..a.clone() };
        assert_eq!(compare(&a, &image), Err(Miss::Image));
        let mounts = ContainerSpec { mounts: vec![], ..a.clone() };
        assert_eq!(compare(&a, &mounts), Err(Miss::Mounts));
        let limits = ContainerSpec { memory_limit: Some(1 << 30), ..a.clone() };
        assert_eq!(compare(&a, &limits), Err(Miss::Limits));
        let hardened =
            ContainerSpec { hardening: Hardening { pids_limit: Some(64), ..Hardening::default() }, ..a.clone() };
        assert_eq!(compare(&a, &hardened), Err(Miss::Limits));
    }

    fn at(base: Instant, ms: u64) -> Instant {
        base + Duration::from_millis(ms)
    }

    #[tokio::test]
    async fn one_per_space_and_the_least_recently_used_goes_beyond_max() {
        let t = Instant::now();
        let mut book: Book<&str> = Book::new(2);
        let (_, out) = book.book("a", "c1", spec(&[]), "a1", t);
        assert!(out.is_empty());
        // A second standby of "a" replaces the first.
        let (_, out) = book.book("a", "c2", spec(&[]), "a2", at(t, 1));
        assert_eq!(out.iter().map(|e| e.slot).collect::<Vec<_>>(), ["a1"]);
        book.book("b", "c3", spec(&[]), "b1", at(t, 2));
        // "a" is the least recently used: a third space pushes it out.
        let (_, out) = book.book("c", "c4", spec(&[]), "c1", at(t, 3));
        assert_eq!(out.iter().map(|e| e.slot).collect::<Vec<_>>(), ["a2"]);
        assert_eq!(book.len(), 2);
        assert!(book.take("a").is_none());
        // Now "b" is the oldest: a turn of "b" then a new standby of "b" makes "c" the oldest.
        assert_eq!(book.take("b").map(|e| e.slot), Some("b1"));
        book.book("b", "c5", spec(&[]), "b2", at(t, 4));
        let (_, out) = book.book("d", "c6", spec(&[]), "d1", at(t, 5));
        assert_eq!(out.iter().map(|e| e.slot).collect::<Vec<_>>(), ["c1"]);
        assert_eq!(book.names(), ["c5", "c6"]);
    }

    #[tokio::test]
    async fn a_standby_is_taken_once() {
        let mut book: Book<u8> = Book::new(4);
        book.book("a", "c1", spec(&[]), 1, Instant::now());
        assert_eq!(book.take("a").map(|e| e.slot), Some(1));
        assert!(book.take("a").is_none());
    }

    #[tokio::test]
    async fn expiry_counts_from_ready_and_spares_a_taken_standby() {
        let t = Instant::now();
        let idle = Duration::from_millis(100);
        let mut book: Book<u8> = Book::new(4);
        let (key, _) = book.book("a", "c1", spec(&[]), 1, t);
        assert!(book.ready(key, at(t, 50)));
        assert!(book.expire(key, at(t, 149), idle).is_none(), "idle time starts when ready");
        assert_eq!(book.expire(key, at(t, 150), idle).map(|e| e.slot), Some(1));
        assert!(book.is_empty());

        let (key, _) = book.book("b", "c2", spec(&[]), 2, t);
        assert!(book.take("b").is_some());
        assert!(book.expire(key, at(t, 1000), idle).is_none(), "taken: nothing to expire");
        assert!(!book.ready(key, t));
    }

    #[tokio::test]
    async fn drained_and_leaving_names_count_until_gone() {
        let mut book: Book<u8> = Book::new(4);
        book.book("a", "c1", spec(&[]), 1, Instant::now());
        book.book("b", "c2", spec(&[]), 2, Instant::now());
        let drained = book.drain();
        assert_eq!(drained.len(), 2);
        assert_eq!(book.len(), 0);
        assert!(book.take("a").is_none());
        assert!(!book.is_empty(), "their containers are still being removed");
        assert_eq!(book.names(), ["c1", "c2"]);
        book.left("c1");
        book.left("c2");
        assert!(book.is_empty());
    }
}
