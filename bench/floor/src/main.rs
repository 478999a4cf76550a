//! The engine's floor: the raw Docker Engine API calls of one agent turn, made
//! with bollard and nothing around them, for one container of the bench image
//! in its "ignore-stdin" mode (the agent answers at once). Same container
//! config as the addon's `Engine::create` (src/core/engine/client.rs): env, label,
//! bind mounts, stdin open and closed after the payload, host-gateway entry.
//!
//! Timed per round: create, attach, start, output read to EOF, wait (that is
//! "create→exit", the floor no runner can beat), and separately the removal.
//!
//! Then the warm floor, what a claimed standby turn costs at the engine: a
//! container of the agent in "payload-size" mode (it reads its stdin first)
//! already created, attached and started; timed from the payload's write
//! through stdin's close and the output's EOF to the exit.
//!
//! With `--serve` it instead runs one round per line read on stdin and answers
//! each with one line of JSON (a line "warm" asks for a warm round): bench/run.js
//! uses that to put the floor in the same alternation as the runners, so all see
//! the engine in the same state.
//!
//! Env: FLOOR_ROUNDS (default 15), FLOOR_WARMUP (default 2), FLOOR_PAUSE_MS
//! (quiet time before each round, default 100), FLOOR_WARM_ROUNDS (default
//! FLOOR_ROUNDS), FLOOR_WARM_SETTLE_MS (a warm container's idle time before its
//! turn, default 200), BENCH_IMAGE
//! (default mercury-bench-agent:latest), DOCKER_HOST, FLOOR_OUT (default
//! ../results/floor.json next to this crate).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bollard::container::LogOutput;
use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder,
    WaitContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::StreamExt;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const PHASES: [&str; 5] = ["create", "attach", "start", "output", "wait"];

struct Round {
    phases_ms: [f64; 5],
    create_to_exit_ms: f64,
    remove_ms: f64,
}

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn now_ms() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis()
}

/// Nearest-rank-interpolated quantile of sorted samples.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

fn stats(samples: &[f64]) -> serde_json::Value {
    let mut s = samples.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    json!({
        "n": s.len(),
        "median": quantile(&s, 0.5),
        "p10": quantile(&s, 0.1),
        "p90": quantile(&s, 0.9),
        "min": s.first().copied().unwrap_or(f64::NAN),
        "max": s.last().copied().unwrap_or(f64::NAN),
        "samples": samples,
    })
}

fn bind(source: &Path, target: &str, read_only: bool) -> Mount {
    Mount {
        source: Some(source.to_string_lossy().into_owned()),
        target: Some(target.to_owned()),
        typ: Some(MountType::BIND),
        read_only: Some(read_only),
        ..Mount::default()
    }
}

/// The container of one turn, as the addon's `Engine::create` makes it, with
/// the fixture agent in `mode`.
fn turn_body(image: &str, root: &Path, mode: &str) -> ContainerCreateBody {
    let env = vec![
        "HOME=/root".to_owned(),
        "PI_CODING_AGENT_DIR=/root/.pi/agent".to_owned(),
        "CALLER_ID=floor-caller".to_owned(),
        format!("SPACE_ID={SPACE}"),
        "API_URL=http://host.docker.internal:3000".to_owned(),
        format!("FIXTURE_MODE={mode}"),
    ];
    let pkg = root.join("pkg");
    ContainerCreateBody {
        image: Some(image.to_owned()),
        env: Some(env),
        labels: Some(HashMap::from([("mercury.managed".to_owned(), "true".to_owned())])),
        attach_stdin: Some(true),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        open_stdin: Some(true),
        stdin_once: Some(true),
        tty: Some(false),
        host_config: Some(HostConfig {
            mounts: Some(vec![
                bind(&root.join("spaces"), "/spaces", false),
                bind(&root.join("global"), "/root/.pi/agent", false),
                bind(&pkg.join("README.md"), "/docs/mercury/README.md", true),
                bind(&pkg.join("docs"), "/docs/mercury/docs", true),
            ]),
            extra_hosts: Some(vec!["host.docker.internal:host-gateway".to_owned()]),
            ..HostConfig::default()
        }),
        ..ContainerCreateBody::default()
    }
}

const SPACE: &str = "floor-space";

fn turn_payload() -> String {
    format!(
        r#"{{"spaceId":"{SPACE}","spaceWorkspace":"/spaces/{SPACE}","messages":[],"prompt":"hello agent","callerId":"floor-caller","callerRole":"member"}}"#
    )
}

fn attach_options() -> bollard::query_parameters::AttachContainerOptions {
    AttachContainerOptionsBuilder::default().stream(true).stdin(true).stdout(true).stderr(true).build()
}

/// Reads the attached output to EOF: what the agent wrote on stdout.
async fn read_stdout(
    output: &mut (impl futures_util::Stream<Item = Result<LogOutput, bollard::errors::Error>> + Unpin),
) -> Vec<u8> {
    let mut stdout = Vec::new();
    while let Some(item) = output.next().await {
        match item {
            Ok(LogOutput::StdOut { message }) | Ok(LogOutput::Console { message }) => {
                stdout.extend_from_slice(&message)
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    stdout
}

/// The container's exit status, once it is not running.
async fn wait_exit(docker: &Docker, id: &str) -> Res<i64> {
    let mut wait =
        docker.wait_container(id, Some(WaitContainerOptionsBuilder::default().condition("not-running").build()));
    match wait.next().await {
        Some(Ok(r)) => Ok(r.status_code),
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
        Some(Err(e)) => Err(e.into()),
        None => Err("no exit status".into()),
    }
}

async fn one_round(docker: &Docker, image: &str, root: &Path, n: usize) -> Res<Round> {
    let name = format!("mercury-floor-{}-{n}", now_ms());
    let body = turn_body(image, root, "ignore-stdin");
    let payload = turn_payload();

    let t0 = Instant::now();
    let id =
        docker.create_container(Some(CreateContainerOptionsBuilder::default().name(&name).build()), body).await?.id;
    let t_create = Instant::now();
    let attached = docker.attach_container(&id, Some(attach_options())).await?;
    let t_attach = Instant::now();
    docker.start_container(&id, None).await?;
    let t_start = Instant::now();
    let mut input = attached.input;
    let writer = tokio::spawn(async move {
        let _ = input.write_all(payload.as_bytes()).await;
        let _ = input.shutdown().await;
    });
    let mut output = attached.output;
    let stdout = read_stdout(&mut output).await;
    let t_output = Instant::now();
    writer.abort();
    let code = wait_exit(docker, &id).await?;
    let t_wait = Instant::now();
    docker.remove_container(&id, Some(RemoveContainerOptionsBuilder::default().force(true).build())).await?;
    let t_remove = Instant::now();

    let text = String::from_utf8_lossy(&stdout);
    if code != 0 || !text.contains("did not read") {
        return Err(format!("unexpected agent outcome: exit {code}, stdout {text:?}").into());
    }
    Ok(Round {
        phases_ms: [
            ms(t_create - t0),
            ms(t_attach - t_create),
            ms(t_start - t_attach),
            ms(t_output - t_start),
            ms(t_wait - t_output),
        ],
        create_to_exit_ms: ms(t_wait - t0),
        remove_ms: ms(t_remove - t_wait),
    })
}

const WARM_PHASES: [&str; 3] = ["write", "output", "wait"];

/// A warm turn: what a claimed standby costs at the engine with no runner.
struct WarmRound {
    phases_ms: [f64; 3],
    write_to_exit_ms: f64,
    remove_ms: f64,
}

/// The warm floor: a container of the agent in "payload-size" mode (it reads its
/// stdin first, as the addon's standbys do) is created, attached and started,
/// then left `settle` to reach its read, untimed, as a standby idles until its
/// turn. Timed: the payload written and stdin closed, the output read to EOF,
/// the exit waited for. Then, timed apart, the removal.
async fn warm_round(docker: &Docker, image: &str, root: &Path, n: usize, settle: Duration) -> Res<WarmRound> {
    let name = format!("mercury-floor-warm-{}-{n}", now_ms());
    let body = turn_body(image, root, "payload-size");
    let payload = turn_payload();
    let id =
        docker.create_container(Some(CreateContainerOptionsBuilder::default().name(&name).build()), body).await?.id;
    let attached = docker.attach_container(&id, Some(attach_options())).await?;
    docker.start_container(&id, None).await?;
    tokio::time::sleep(settle).await;

    let mut input = attached.input;
    let mut output = attached.output;
    let t0 = Instant::now();
    input.write_all(payload.as_bytes()).await?;
    input.shutdown().await?;
    let t_write = Instant::now();
    let stdout = read_stdout(&mut output).await;
    let t_output = Instant::now();
    let code = wait_exit(docker, &id).await?;
    let t_wait = Instant::now();
    docker.remove_container(&id, Some(RemoveContainerOptionsBuilder::default().force(true).build())).await?;
    let t_remove = Instant::now();

    let text = String::from_utf8_lossy(&stdout);
    let expected = format!("\"reply\":\"{}\"", payload.len());
    if code != 0 || !text.contains(&expected) {
        return Err(format!("unexpected agent outcome: exit {code}, stdout {text:?}").into());
    }
    Ok(WarmRound {
        phases_ms: [ms(t_write - t0), ms(t_output - t_write), ms(t_wait - t_output)],
        write_to_exit_ms: ms(t_wait - t0),
        remove_ms: ms(t_remove - t_wait),
    })
}

fn warm_json(r: &WarmRound) -> serde_json::Value {
    let mut phases = serde_json::Map::new();
    for (i, phase) in WARM_PHASES.iter().enumerate() {
        phases.insert((*phase).to_owned(), json!(r.phases_ms[i]));
    }
    json!({ "writeToExitMs": r.write_to_exit_ms, "removeMs": r.remove_ms, "phasesMs": phases })
}

/// One round per line on stdin, one JSON line per round on stdout; "ready" once
/// warmed up. A line "warm" asks for a warm round, any other line a cold one.
async fn serve(docker: &Docker, image: &str, root: &Path, warmup: usize, settle: Duration) -> Res<()> {
    for n in 0..warmup {
        one_round(docker, image, root, n).await?;
    }
    println!("{}", json!({ "ready": true }));
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut n = warmup;
    while let Some(line) = lines.next_line().await? {
        if line.trim() == "warm" {
            let answer = match warm_round(docker, image, root, n, settle).await {
                Ok(r) => warm_json(&r),
                Err(e) => json!({ "error": e.to_string() }),
            };
            println!("{answer}");
            n += 1;
            continue;
        }
        let answer = match one_round(docker, image, root, n).await {
            Ok(r) => {
                let mut phases = serde_json::Map::new();
                for (i, phase) in PHASES.iter().enumerate() {
                    phases.insert((*phase).to_owned(), json!(r.phases_ms[i]));
                }
                json!({ "createToExitMs": r.create_to_exit_ms, "removeMs": r.remove_ms, "phasesMs": phases })
            }
            Err(e) => json!({ "error": e.to_string() }),
        };
        println!("{answer}");
        n += 1;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Res<()> {
    let rounds = env_num("FLOOR_ROUNDS", 15);
    let warmup = env_num("FLOOR_WARMUP", 2);
    // The runner bench starts each round on a quiet engine (it polls until the previous
    // container is gone); pause as long here, so that the engine's own asynchronous
    // teardown of the last container does not land in the next round's figures.
    let pause = Duration::from_millis(env_num("FLOOR_PAUSE_MS", 100) as u64);
    let warm_rounds = env_num("FLOOR_WARM_ROUNDS", rounds);
    // How long a warm round's container idles before its turn: long enough for the
    // agent to be blocked reading its stdin, as a standby is when a turn claims it.
    let settle = Duration::from_millis(env_num("FLOOR_WARM_SETTLE_MS", 200) as u64);
    let image = std::env::var("BENCH_IMAGE").unwrap_or_else(|_| "mercury-bench-agent:latest".to_owned());
    let out: PathBuf = std::env::var("FLOOR_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../results/floor.json"));
    let endpoint = std::env::var("DOCKER_HOST")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unix:///var/run/docker.sock".to_owned());

    let root = std::env::temp_dir().join(format!("mcr-floor-{}", std::process::id()));
    for dir in ["spaces", "global", "pkg/docs"] {
        std::fs::create_dir_all(root.join(dir))?;
    }
    std::fs::write(root.join("pkg/README.md"), "# floor\n")?;

    // The engine here speaks an older API than bollard's default: negotiate, as the addon does.
    let docker = Docker::connect_with_host(&endpoint)?.negotiate_version().await?;

    if std::env::args().any(|a| a == "--serve") {
        let result = serve(&docker, &image, &root, warmup, settle).await;
        let _ = std::fs::remove_dir_all(&root);
        return result;
    }

    let mut done = Vec::new();
    for n in 0..warmup + rounds {
        tokio::time::sleep(pause).await;
        let round = one_round(&docker, &image, &root, n).await?;
        if n >= warmup {
            done.push(round);
        }
    }
    let mut warm = Vec::new();
    for n in 0..warmup + warm_rounds {
        tokio::time::sleep(pause).await;
        let round = warm_round(&docker, &image, &root, n, settle).await?;
        if n >= warmup {
            warm.push(round);
        }
    }
    let _ = std::fs::remove_dir_all(&root);

    let col = |f: &dyn Fn(&Round) -> f64| done.iter().map(f).collect::<Vec<f64>>();
    let create_to_exit = col(&|r| r.create_to_exit_ms);
    let remove = col(&|r| r.remove_ms);
    let mut phases = serde_json::Map::new();
    for (i, phase) in PHASES.iter().enumerate() {
        phases.insert((*phase).to_owned(), stats(&col(&|r| r.phases_ms[i])));
    }
    let wcol = |f: &dyn Fn(&WarmRound) -> f64| warm.iter().map(f).collect::<Vec<f64>>();
    let mut warm_phases = serde_json::Map::new();
    for (i, phase) in WARM_PHASES.iter().enumerate() {
        warm_phases.insert((*phase).to_owned(), stats(&wcol(&|r| r.phases_ms[i])));
    }
    let report = json!({
        "kind": "floor",
        "image": image,
        "endpoint": endpoint,
        "rounds": rounds,
        "warmup": warmup,
        "pauseMs": pause.as_millis() as u64,
        "timestamp": now_ms() as u64,
        "createToExitMs": stats(&create_to_exit),
        "removeMs": stats(&remove),
        "phasesMs": phases,
        "warm": {
            "rounds": warm_rounds,
            "settleMs": settle.as_millis() as u64,
            "writeToExitMs": stats(&wcol(&|r| r.write_to_exit_ms)),
            "removeMs": stats(&wcol(&|r| r.remove_ms)),
            "phasesMs": warm_phases,
        },
    });
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out, serde_json::to_string_pretty(&report)? + "\n")?;

    let line = |label: &str, v: &serde_json::Value| {
        println!(
            "{label:<16} median {:>7.1} ms   p10 {:>7.1}   p90 {:>7.1}",
            v["median"].as_f64().unwrap_or(f64::NAN),
            v["p10"].as_f64().unwrap_or(f64::NAN),
            v["p90"].as_f64().unwrap_or(f64::NAN)
        )
    };
    println!("engine floor, {rounds} rounds of {image} (ignore-stdin), after {warmup} warm-up:");
    line("create→exit", &report["createToExitMs"]);
    for phase in PHASES {
        line(&format!("  {phase}"), &report["phasesMs"][phase]);
    }
    line("remove", &report["removeMs"]);
    println!("warm floor, {warm_rounds} rounds (payload-size, started {} ms before its turn):", settle.as_millis());
    line("write→exit", &report["warm"]["writeToExitMs"]);
    for phase in WARM_PHASES {
        line(&format!("  {phase}"), &report["warm"]["phasesMs"][phase]);
    }
    line("remove", &report["warm"]["removeMs"]);
    println!("written to {}", out.canonicalize().unwrap_or(out).display());
    Ok(())
}
