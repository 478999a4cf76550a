//! One reply's life: the runner's settings, the container spec, the runs in flight,
//! standby containers, the turn itself, and how its ending reads.
//!
//! Owns: settings (`config`), the agent folder (`agent_dir`, `plain_sources`), the
//! container to create (`spec`, `payload`), runs in flight (`runs`), standby
//! containers (`standby`), one turn (`one_turn`), its outcome (`outcome`) and the
//! removals still owed (`removals`).
//! May use: `engine` (to run the container), `untrusted` (to read what it wrote),
//! and the shared pieces of `core`.

pub(crate) mod agent_dir;
pub(crate) mod config;
pub(crate) mod one_turn;
pub(crate) mod outcome;
pub(crate) mod payload;
pub(crate) mod plain_sources;
pub(crate) mod removals;
pub(crate) mod runs;
pub(crate) mod spec;
pub(crate) mod standby;
