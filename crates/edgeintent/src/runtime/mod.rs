//! The one public entry point: [`Runtime`] wires event → features → gate
//! → score → decision, hands decisions to the host (poll or callback), and
//! feeds the observers one record of each decision point. The only module
//! that knows all the others. Per event and per decision it allocates
//! nothing in steady state; time comes from events (or `tick`), never from
//! the clock. `state` says what a runtime holds; each concern's behaviour
//! is a file of its own.

mod builder;
mod clock;
mod decide;
mod emit;
mod output;
mod persist;
mod process;
mod state;
mod stats;
mod types;
mod update;
mod versions;
mod worker;

#[cfg(test)]
mod tests;

pub use builder::RuntimeBuilder;
pub use state::Runtime;
pub use stats::{ClockStats, Stats};
pub use types::{DecisionCallback, DecisionPoint, ModelStatus, PointRecord};
pub use versions::{UpdateOutcome, UpdateStats, VersionInForce};
pub use worker::{Worker, WorkerClock};
