//! Pull progress as log lines: one per layer status change, and a progress
//! line per layer at most every few seconds, instead of minutes of silence.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::engine::PullEvent;
use super::log::Logger;
use crate::fields;

const PROGRESS_EVERY: Duration = Duration::from_secs(2);

pub struct PullLog {
    log: Logger,
    image: String,
    /// Per layer: its last status and when progress was last logged.
    layers: HashMap<String, (String, Instant)>,
}

impl PullLog {
    pub fn new(log: Logger, image: &str) -> Self {
        Self { log, image: image.to_owned(), layers: HashMap::new() }
    }

    pub fn event(&mut self, event: PullEvent) {
        let Some(layer) = event.layer.clone() else {
            // Image-wide lines ("Pulling from ...", "Digest: ...", "Status: ...").
            self.log.info("Pulling agent image", fields!("image" => self.image, "status" => event.status));
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
        self.layers.insert(layer.clone(), (event.status.clone(), now));
        let mut f = fields!("image" => self.image, "layer" => layer, "status" => event.status);
        if let Some(progress) = event.progress {
            f.insert("progress".into(), progress.into());
        }
        self.log.info("Pulling agent image", f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::log::{Fields, Level, LogSink};
    use std::sync::{Arc, Mutex};

    #[derive(Default)]
    struct Lines(Mutex<Vec<Fields>>);
    impl LogSink for Lines {
        fn log(&self, _: Level, _: &str, fields: Fields) {
            self.0.lock().unwrap().push(fields);
        }
    }

    fn ev(layer: &str, status: &str) -> PullEvent {
        PullEvent { layer: Some(layer.into()), status: status.into(), progress: Some("10%".into()) }
    }

    #[test]
    fn logs_status_changes_and_throttles_repeats() {
        let lines = Arc::new(Lines::default());
        let mut pull = PullLog::new(Logger::new(lines.clone()), "img:1");
        pull.event(PullEvent { layer: None, status: "Pulling from img".into(), progress: None });
        pull.event(ev("a", "Downloading"));
        pull.event(ev("a", "Downloading"));
        pull.event(ev("b", "Downloading"));
        pull.event(ev("a", "Download complete"));
        let got = lines.0.lock().unwrap();
        let statuses: Vec<_> = got.iter().map(|f| f["status"].as_str().unwrap().to_owned()).collect();
        assert_eq!(statuses, ["Pulling from img", "Downloading", "Downloading", "Download complete"]);
        assert_eq!(got[1]["layer"], "a");
        assert_eq!(got[1]["progress"], "10%");
    }
}
