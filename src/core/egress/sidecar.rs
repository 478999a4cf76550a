//! A runner's egress sidecar: made on the first turn with egress (image, internal
//! network, proxy container), read for refusals while it lives, removed at
//! `killAll`, at exit and by `cleanupOrphans` (of another runner, after a crash).
//! Where it cannot be made, the turn fails with the engine's error (a
//! `ContainerError`, exit code 125): egress is never skipped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use tracing::Dispatch;

use super::tar::{archive, Entry};
use super::{
    apply_to_spec, network_leak, network_name, proxy_allow_list, proxy_binary_name, random_hex, refusal, sidecar_name,
    EgressOptions, Tags, EGRESS_LABEL, INHIBIT_IPV4,
};
use crate::core::bounds::{EGRESS_NETWORK_REMOVAL_RETRIES, EGRESS_PROXY_READY};
use crate::core::engine::client::{Engine, EngineError};
use crate::core::engine::container::{ContainerSpec, MANAGED_LABEL};
use crate::core::engine::egress_calls::SidecarSpec;
use crate::core::error::RunError;

/// Longest proxy log line read; a longer one is skipped (the proxy's are under 300 bytes).
const MAX_LINE: usize = 4096;

struct Ready {
    proxy_ip: String,
    /// False once the sidecar's log has ended (it was removed or died): the next turn makes it again.
    alive: Arc<AtomicBool>,
}

pub(crate) struct Egress {
    options: EgressOptions,
    runner_id: String,
    engine: Engine,
    log: Dispatch,
    ready: tokio::sync::Mutex<Option<Ready>>,
    tags: Arc<Mutex<Tags>>,
    /// Whether anything was ever made on the engine (process exit skips the engine otherwise).
    made: AtomicBool,
    /// The runtime the sidecar was made on: `killAll` runs on the host's thread, outside it.
    runtime: Mutex<Option<tokio::runtime::Handle>>,
}

fn unenforceable(why: impl std::fmt::Display) -> RunError {
    RunError::Engine(EngineError::Failed(format!("egress cannot be enforced, so the turn did not run: {why}")))
}

impl Egress {
    pub(crate) fn new(options: EgressOptions, engine: Engine, log: Dispatch) -> Self {
        Self {
            options,
            runner_id: random_hex()[..16].to_owned(),
            engine,
            log,
            ready: tokio::sync::Mutex::new(None),
            tags: Arc::default(),
            made: AtomicBool::new(false),
            runtime: Mutex::new(None),
        }
    }

    /// The names of what this runner made on the engine (the sidecar first, then its network).
    pub(crate) fn names(&self) -> (String, String) {
        (sidecar_name(&self.runner_id), network_name(&self.runner_id))
    }

    /// Puts the agent of `space_id`'s turn behind the sidecar, making it first if need be.
    pub(crate) async fn apply(&self, spec: &mut ContainerSpec, space_id: &str, api_port: &str) -> Result<(), RunError> {
        let mut ready = self.ready.lock().await;
        if !ready.as_ref().is_some_and(|r| r.alive.load(Ordering::Acquire)) {
            *ready = None;
            // A dead sidecar's leftovers go before it is made again.
            self.remove().await;
            *ready = Some(self.make(api_port).await?);
        }
        let proxy_ip = ready.as_ref().map(|r| r.proxy_ip.clone()).unwrap_or_default();
        drop(ready);
        let tag = self.tags.lock().unwrap_or_else(|p| p.into_inner()).begin_turn(space_id, random_hex);
        apply_to_spec(spec, &network_name(&self.runner_id), &proxy_ip, &tag);
        Ok(())
    }

    pub(crate) fn was_made(&self) -> bool {
        self.made.load(Ordering::Acquire)
    }

    async fn make(&self, api_port: &str) -> Result<Ready, RunError> {
        self.made.store(true, Ordering::Release);
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            *self.runtime.lock().unwrap_or_else(|p| p.into_inner()) = Some(handle);
        }
        let made = self.make_parts(api_port).await;
        if made.is_err() {
            self.remove().await;
        }
        made
    }

    async fn make_parts(&self, api_port: &str) -> Result<Ready, RunError> {
        let engine_error = |e: EngineError| unenforceable(e);
        let arch = self.engine.architecture().await.map_err(engine_error)?;
        let Some(file) = proxy_binary_name(&arch) else {
            return Err(unenforceable(format!("no egress proxy is built for the engine's architecture {arch:?}")));
        };
        let Some(dir) = &self.options.proxy_dir else {
            return Err(unenforceable("the package's folder is unknown, so its egress proxy cannot be found"));
        };
        let path = dir.join(file);
        let binary = tokio::fs::read(&path).await.map_err(|e| {
            unenforceable(format!(
                "no egress proxy for the engine's architecture {arch} at {} ({e}); scripts/build-egress-proxy.sh builds it",
                path.display()
            ))
        })?;
        let digest = Sha256::digest(&binary);
        let image =
            format!("mercury-egress-proxy:{}", digest[..8].iter().map(|b| format!("{b:02x}")).collect::<String>());
        if !self.engine.image_exists(&image).await.map_err(engine_error)? {
            let dockerfile = b"FROM scratch\nCOPY egress-proxy /egress-proxy\nENTRYPOINT [\"/egress-proxy\"]\n";
            let context = archive(&[
                Entry { name: "Dockerfile", mode: 0o644, data: dockerfile },
                Entry { name: "egress-proxy", mode: 0o755, data: &binary },
            ])
            .map_err(unenforceable)?;
            self.engine.build_image(&image, context).await.map_err(engine_error)?;
        }

        let (sidecar, network) = self.names();
        let labels = HashMap::from([
            (MANAGED_LABEL.0.to_owned(), MANAGED_LABEL.1.to_owned()),
            (EGRESS_LABEL.to_owned(), self.runner_id.clone()),
        ]);
        let options = HashMap::from([(INHIBIT_IPV4.to_owned(), "true".to_owned())]);
        self.engine
            .create_internal_network(&network, labels.clone(), options)
            .await
            .map_err(|e| unenforceable(format!("the engine cannot make an internal network ({e})")))?;
        // An engine may accept an option and drop it (Podman does): what it made is checked.
        let made = self.engine.network_seen(&network).await.map_err(engine_error)?;
        if let Some(leak) = network_leak(&made) {
            return Err(unenforceable(leak));
        }
        let spec = SidecarSpec {
            name: sidecar.clone(),
            image,
            env: vec![format!("EGRESS_ALLOW={}", proxy_allow_list(&self.options, api_port))],
            labels,
            // API_URL's host, resolved by the proxy in its own /etc/hosts.
            extra_hosts: vec!["host.docker.internal:host-gateway".to_owned()],
            outside_network: "bridge".to_owned(),
        };
        let id = self.engine.create_sidecar(&spec).await.map_err(engine_error)?;
        self.engine.connect_network(&network, &id).await.map_err(engine_error)?;
        self.engine.start(&id).await.map_err(engine_error)?;
        let proxy_ip = self.engine.address_on(&id, &network).await.map_err(engine_error)?;
        let mut lines = self.engine.follow_stdout(&id).await.map_err(engine_error)?;

        // Its first line says it listens; anything else (it exited: a bad list, a bind failure) is a failure.
        let mut pending = Vec::new();
        let listening = tokio::time::timeout(EGRESS_PROXY_READY, async {
            while let Some(chunk) = lines.recv().await {
                pending.extend_from_slice(&chunk);
                if let Some(end) = pending.iter().position(|b| *b == b'\n') {
                    let first: Vec<u8> = pending.drain(..=end).collect();
                    return first.windows(9).any(|w| w == b"listening");
                }
            }
            false
        })
        .await;
        if listening != Ok(true) {
            return Err(unenforceable("the egress proxy did not start"));
        }
        let alive = Arc::new(AtomicBool::new(true));
        tokio::spawn(read_refusals(lines, pending, self.tags.clone(), alive.clone(), self.log.clone()));
        Ok(Ready { proxy_ip, alive })
    }

    /// Removes the sidecar, then its network. A network with a container on it
    /// cannot go: after `killAll` the agents' own removals may still be under
    /// way, so the network's removal is tried again for a while.
    pub(crate) async fn remove(&self) {
        let (sidecar, network) = self.names();
        let _ = self.engine.remove(&sidecar).await;
        for pause in EGRESS_NETWORK_REMOVAL_RETRIES {
            if self.engine.remove_network(&network).await.is_ok() {
                return;
            }
            tokio::time::sleep(pause).await;
        }
        let _ = self.engine.remove_network(&network).await;
    }

    /// For `killAll` (on the host's thread): removes the sidecar and its
    /// network in the background; the next turn with egress makes them again.
    pub(crate) fn remove_in_background(self: &Arc<Self>) {
        if !self.was_made() {
            return;
        }
        if let Ok(mut ready) = self.ready.try_lock() {
            *ready = None;
        }
        let runtime = self.runtime.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(runtime) = runtime {
            let egress = self.clone();
            runtime.spawn(async move { egress.remove().await });
        }
    }
}

/// Removes the egress networks no runner uses any more (their sidecars were
/// removed with the other orphans just before), but this runner's own.
pub(crate) async fn remove_orphan_networks(engine: &Engine, own: Option<&str>) {
    let Ok(names) = engine.networks_labelled(EGRESS_LABEL).await else {
        return;
    };
    for name in names.iter().filter(|n| Some(n.as_str()) != own) {
        // Still in use (another live runner's): the engine refuses, and it stays.
        let _ = engine.remove_network(name).await;
    }
}

async fn read_refusals(
    mut chunks: tokio::sync::mpsc::Receiver<bytes::Bytes>,
    mut pending: Vec<u8>,
    tags: Arc<Mutex<Tags>>,
    alive: Arc<AtomicBool>,
    log: Dispatch,
) {
    let handle = |line: &[u8]| {
        let Some((tag, destination)) = refusal(line) else {
            return;
        };
        let space = tags.lock().unwrap_or_else(|p| p.into_inner()).report(&tag, &destination);
        if let Some(space_id) = space {
            tracing::dispatcher::with_default(&log, || {
                tracing::warn!(spaceId = space_id.as_str(), destination = destination.as_str(), "Egress refused")
            });
        }
    };
    loop {
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            handle(&line[..line.len() - 1]);
        }
        if pending.len() > MAX_LINE {
            pending.clear();
        }
        match chunks.recv().await {
            Some(chunk) => pending.extend_from_slice(&chunk),
            None => break,
        }
    }
    alive.store(false, Ordering::Release);
}
