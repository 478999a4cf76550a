//! One reply's life: the runner's settings, the container spec, the runs in flight,
//! standby containers, the turn itself, and how its ending reads.
//!
//! Owns: settings (`config`), where the folders lie (`layout`), the agent
//! folder (`agent_dir`, `plain_sources`), the folders a turn mounts
//! (`folders`), its token (`credential`), the container to create and its
//! input's rewrites (`spec`), its creation (`create`), what stops it (`stop`),
//! runs in flight (`runs`), standby containers (`standby`), one turn
//! (`one_turn`), its outcome (`outcome`) and the removals still owed
//! (`removals`).
//! May use: `engine` (to run the container), `untrusted` (to read what it wrote),
//! and the shared pieces of `core`.

pub(crate) mod agent_dir;
pub(crate) mod config;
pub(crate) mod create;
pub(crate) mod credential;
pub(crate) mod folders;
pub(crate) mod layout;
pub(crate) mod one_turn;
pub(crate) mod outcome;
pub(crate) mod plain_sources;
pub(crate) mod removals;
pub(crate) mod runs;
pub(crate) mod spec;
pub(crate) mod standby;
pub(crate) mod stop;
