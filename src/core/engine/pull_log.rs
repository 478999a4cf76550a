//! Pull progress as log lines: one per layer status change, and a progress
//! line per layer at most every few seconds, instead of minutes of silence.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// One progress message of a pull, as the engine sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PullEvent {
    pub layer: Option<String>,
    pub status: String,
    pub progress: Option<String>,
}

/// How often one layer's unchanged status is logged again, with its progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

pub(crate) struct PullLog {
    image: String,
    /// Per layer: its last status and when progress was last logged.
    layers: HashMap<String, (String, Instant)>,
}

impl PullLog {
    pub(crate) fn new(image: &str) -> Self {
        Self { image: image.to_owned(), layers: HashMap::new() }
    }

    pub(crate) fn event(&mut self, event: PullEvent) {
        let image = self.image.as_str();
        let Some(layer) = event.layer else {
            // Image-wide lines ("Pulling from ...", "Digest: ...", "Status: ...").
            tracing::info!(image, status = event.status, "Pulling agent image");
            return;
        };
        let now = Instant::now();
        let changed = match self.layers.get(&layer) {
            None => true,
            Some((status, at)) => *status != event.status || now.duration_since(*at) >= PROGRESS_EVERY,
        };
        if !changed {
            return;
        }
        tracing::info!(image, layer, status = event.status, progress = event.progress, "Pulling agent image");
        self.layers.insert(layer, (event.status, now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::log::{dispatch, Recorded};
    use std::sync::Arc;

    fn ev(layer: &str, status: &str) -> PullEvent {
        PullEvent { layer: Some(layer.into()), status: status.into(), progress: Some("10%".into()) }
    }

    #[test]
    fn logs_status_changes_and_throttles_repeats() {
        let lines = Arc::new(Recorded::default());
        tracing::dispatcher::with_default(&dispatch(lines.clone()), || {
            let mut pull = PullLog::new("img:1");
            pull.event(PullEvent { layer: None, status: "Pulling from img".into(), progress: None });
            pull.event(ev("a", "Downloading"));
            pull.event(ev("a", "Downloading"));
            pull.event(ev("b", "Downloading"));
            pull.event(ev("a", "Download complete"));
        });
        let got = lines.0.lock().unwrap();
        let statuses: Vec<_> = got.iter().map(|(_, _, f)| f["status"].as_str().unwrap().to_owned()).collect();
        assert_eq!(statuses, ["Pulling from img", "Downloading", "Downloading", "Download complete"]);
        assert_eq!(
            serde_json::to_string(&got[1].2).unwrap(),
            r#"{"image":"img:1","layer":"a","status":"Downloading","progress":"10%"}"#
        );
        assert_eq!(serde_json::to_string(&got[0].2).unwrap(), r#"{"image":"img:1","status":"Pulling from img"}"#);
    }
}
