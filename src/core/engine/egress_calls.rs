//! The engine calls of egress (docs/egress.md): the proxy's image, built on the
//! engine from a tar context (no registry); the per-runner internal network;
//! the sidecar on it and on the default bridge; its log; and finding what a
//! crashed runner left. Kept apart from `client.rs`: only egress uses them.

use std::collections::HashMap;

use bollard::body_full;
use bollard::container::LogOutput;
use bollard::models::{ContainerCreateBody, EndpointSettings, HostConfig, NetworkConnectRequest, NetworkCreateRequest};
use bollard::query_parameters::{
    BuildImageOptionsBuilder, CreateContainerOptionsBuilder, ListNetworksOptionsBuilder, LogsOptionsBuilder,
};
use futures_util::StreamExt;

use super::client::{Engine, EngineError};
use crate::core::bounds::{CONTAINER_SETUP, QUICK_CALL};

/// What the sidecar container is made of (the caller decides; this only passes it on).
pub(crate) struct SidecarSpec {
    pub name: String,
    pub image: String,
    pub env: Vec<String>,
    pub labels: HashMap<String, String>,
    pub extra_hosts: Vec<String>,
    /// Its first network, with a route out (the engine's default bridge).
    pub outside_network: String,
}

impl Engine {
    /// The engine's CPU architecture as Go names it (`amd64`, `arm64`, ...).
    pub(crate) async fn architecture(&self) -> Result<String, EngineError> {
        let docker = self.docker().await?;
        let version = self.bounded("the version look-up", QUICK_CALL, docker.version()).await?;
        Ok(version.arch.unwrap_or_default())
    }

    /// Builds `tag` from a tar context (its Dockerfile at the root); the build's error, if any, in words.
    pub(crate) async fn build_image(&self, tag: &str, context: Vec<u8>) -> Result<(), EngineError> {
        let docker = self.docker().await?;
        let options = BuildImageOptionsBuilder::new().dockerfile("Dockerfile").t(tag).rm(true).forcerm(true).build();
        let built = async {
            let mut stream = docker.build_image(options, None, Some(body_full(context.into())));
            while let Some(info) = stream.next().await {
                let info = info?;
                if let Some(detail) = info.error_detail.and_then(|d| d.message) {
                    return Err(bollard::errors::Error::DockerResponseServerError {
                        status_code: 500,
                        message: detail,
                    });
                }
            }
            Ok(())
        };
        self.bounded("the egress proxy's image build", CONTAINER_SETUP, built).await
    }

    pub(crate) async fn create_internal_network(
        &self,
        name: &str,
        labels: HashMap<String, String>,
        options: HashMap<String, String>,
    ) -> Result<String, EngineError> {
        let docker = self.docker().await?;
        let request = NetworkCreateRequest {
            name: name.to_owned(),
            driver: Some("bridge".to_owned()),
            internal: Some(true),
            enable_ipv6: Some(false),
            labels: Some(labels),
            options: Some(options),
            ..NetworkCreateRequest::default()
        };
        let created = self.bounded("the network create", QUICK_CALL, docker.create_network(request)).await?;
        Ok(created.id)
    }

    /// Removes a network; Ok when it is gone (removed now, or already).
    pub(crate) async fn remove_network(&self, name: &str) -> Result<(), EngineError> {
        let docker = self.docker().await?;
        match self.bounded("the network removal", QUICK_CALL, docker.remove_network(name)).await {
            Ok(()) | Err(EngineError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Names of the networks carrying `label` (`key=value` or `key`).
    pub(crate) async fn networks_labelled(&self, label: &str) -> Result<Vec<String>, EngineError> {
        let docker = self.docker().await?;
        let filters = HashMap::from([("label".to_owned(), vec![label.to_owned()])]);
        let options = ListNetworksOptionsBuilder::new().filters(&filters).build();
        let listed = self.bounded("the network listing", QUICK_CALL, docker.list_networks(Some(options))).await?;
        Ok(listed.into_iter().filter_map(|n| n.name).collect())
    }

    /// Creates the sidecar on its outside network; [`Engine::connect_network`] adds the internal one.
    pub(crate) async fn create_sidecar(&self, spec: &SidecarSpec) -> Result<String, EngineError> {
        // On its outside network, which is the engine's default one (Podman: API_URL's
        // `host-gateway` is that network's gateway).
        let extra_hosts = self.extra_hosts(&spec.extra_hosts, None).await?;
        let docker = self.docker().await?;
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            env: Some(spec.env.clone()),
            labels: Some(spec.labels.clone()),
            // Nobody: the proxy needs no privilege (it listens above 1024).
            user: Some("65534:65534".to_owned()),
            host_config: Some(HostConfig {
                network_mode: Some(spec.outside_network.clone()),
                extra_hosts: Some(extra_hosts),
                cap_drop: Some(vec!["ALL".to_owned()]),
                security_opt: Some(vec!["no-new-privileges:true".to_owned()]),
                readonly_rootfs: Some(true),
                // The proxy holds a few MiB (docs/egress.md); the bound keeps a flood from taking the host's memory.
                memory: Some(SIDECAR_MEMORY),
                memory_swap: Some(SIDECAR_MEMORY),
                pids_limit: Some(SIDECAR_PIDS),
                // It joins two networks: it must never route between them, only proxy.
                sysctls: Some(HashMap::from([("net.ipv4.ip_forward".to_owned(), "0".to_owned())])),
                ..HostConfig::default()
            }),
            ..ContainerCreateBody::default()
        };
        let options = CreateContainerOptionsBuilder::default().name(&spec.name).build();
        let created =
            self.bounded("the sidecar create", CONTAINER_SETUP, docker.create_container(Some(options), body)).await?;
        super::client::log_create_warnings(&spec.name, &created.warnings);
        Ok(created.id)
    }

    pub(crate) async fn connect_network(&self, network: &str, container: &str) -> Result<(), EngineError> {
        let docker = self.docker().await?;
        let request = NetworkConnectRequest {
            container: container.to_owned(),
            endpoint_config: Some(EndpointSettings::default()),
        };
        self.bounded("the network connect", QUICK_CALL, docker.connect_network(network, request)).await
    }

    /// The container's IPv4 address on `network`.
    pub(crate) async fn address_on(&self, container: &str, network: &str) -> Result<String, EngineError> {
        let docker = self.docker().await?;
        let inspected = self.bounded("the inspect", QUICK_CALL, docker.inspect_container(container, None)).await?;
        inspected
            .network_settings
            .and_then(|s| s.networks)
            .and_then(|mut n| n.remove(network))
            .and_then(|e| e.ip_address)
            .filter(|ip| !ip.is_empty())
            .ok_or_else(|| EngineError::Failed(format!("the egress proxy has no address on network {network}")))
    }

    /// The container's stdout from its start, followed until it ends, in
    /// chunks on a channel (a task of its own owns the engine's stream; it
    /// ends with the container or when the receiver is dropped).
    pub(crate) async fn follow_stdout(
        &self,
        container: &str,
    ) -> Result<tokio::sync::mpsc::Receiver<bytes::Bytes>, EngineError> {
        let docker = self.docker().await?.clone();
        let container = container.to_owned();
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            let options = LogsOptionsBuilder::default().follow(true).stdout(true).stderr(false).build();
            let mut logs = docker.logs(&container, Some(options));
            while let Some(Ok(chunk)) = logs.next().await {
                if let LogOutput::StdOut { message } = chunk {
                    if tx.send(message).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(rx)
    }
}

/// The sidecar's memory bound (bytes) and process bound.
const SIDECAR_MEMORY: i64 = 64 * 1024 * 1024;
const SIDECAR_PIDS: i64 = 64;
