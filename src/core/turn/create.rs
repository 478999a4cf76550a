//! A turn's container coming to be: the create, a pull when the image is
//! missing, and the removal of whatever a create given up (or one whose answer
//! was lost) still makes.

use tracing::instrument::WithSubscriber;
use tracing::Instrument;

use super::stop::{Stop, Stopped};
use crate::core::engine::client::{Engine, EngineError};
use crate::core::engine::container::ContainerSpec;

/// Why no container came to be, or did not run to its end.
pub(crate) enum NotRun {
    Engine(EngineError),
    /// Aborted, or out of time, before or while the image was being pulled.
    Stopped(Stopped),
}

/// Creates the container; a missing image (the engine's 404 to a create) is
/// pulled first, as `docker run` does. The pull gives way to an abort or the deadline.
pub(crate) async fn create_pulling(engine: &Engine, spec: &ContainerSpec, stop: &Stop<'_>) -> Result<String, NotRun> {
    match create_or_stop(engine, spec, stop).await {
        Err(NotRun::Engine(EngineError::NotFound(_))) => {
            match stop.race(engine.pull(&spec.image)).await {
                Ok(pulled) => pulled.map_err(|e| {
                    NotRun::Engine(EngineError::Failed(format!("Unable to find image '{}' locally\n{e}", spec.image)))
                })?,
                Err(stopped) => return Err(NotRun::Stopped(stopped)),
            }
            create_or_stop(engine, spec, stop).await
        }
        other => other,
    }
}

/// The create, given up when the turn is stopped first. The engine may still
/// make the container after that: the create goes on in the background and
/// what it makes is removed. A create whose answer was lost (connection gone,
/// past its bound) may also have made one: it is looked for by name.
async fn create_or_stop(engine: &Engine, spec: &ContainerSpec, stop: &Stop<'_>) -> Result<String, NotRun> {
    let mut create = {
        let (engine, spec) = (engine.clone(), spec.clone());
        tokio::spawn(async move { engine.create(&spec).await }.in_current_span().with_current_subscriber())
    };
    match stop.first(&mut create).await {
        Ok(Ok(Ok(id))) => Ok(id),
        Ok(Ok(Err(e))) => {
            if answer_lost(&e) {
                stop.removals.remove_if_made(engine.clone(), spec.name.clone());
            }
            Err(NotRun::Engine(e))
        }
        Ok(Err(e)) => {
            stop.removals.remove_if_made(engine.clone(), spec.name.clone());
            Err(NotRun::Engine(EngineError::Failed(format!("the create failed: {e}"))))
        }
        Err(stopped) => {
            let (engine, removals, name) = (engine.clone(), stop.removals.clone(), spec.name.clone());
            // Listed by name until the create has answered and its container is removed.
            let tracked = removals.track(&name);
            let left = async move {
                match create.await {
                    Ok(Ok(id)) => {
                        let _ = removals.remove(engine, id).await;
                    }
                    Ok(Err(e)) if !answer_lost(&e) => {}
                    _ => {
                        let _ = removals.remove_if_made(engine, name).await;
                    }
                }
                drop(tracked);
            };
            tokio::spawn(left.in_current_span().with_current_subscriber());
            Err(NotRun::Stopped(stopped))
        }
    }
}

/// A create that failed without the engine's answer: it may have made the container all the same.
fn answer_lost(e: &EngineError) -> bool {
    matches!(e, EngineError::Unreachable { .. } | EngineError::TimedOut { .. })
}

impl From<EngineError> for NotRun {
    fn from(e: EngineError) -> Self {
        NotRun::Engine(e)
    }
}
