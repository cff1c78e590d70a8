//! The config and metadata naming of a recurrent model's interface; parsed
//! in every build, loaded only where tract is built in (`recurrent`).

use serde::{Deserialize, Serialize};

/// Metadata key (or config `model.recurrent`) naming the recurrent interface.
pub const META_RECURRENT: &str = "edgeintent.recurrent";

/// The names of a stepped model's interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecurrentOptions {
    /// Input receiving the event-type id (`[1, 1]`, f32), default `"event"`.
    #[serde(default = "default_event")]
    pub event_input: String,
    /// State input (any fixed shape), default `"h_in"`.
    #[serde(default = "default_state_in")]
    pub state_input: String,
    /// State output (same shape), default `"h_out"`.
    #[serde(default = "default_state_out")]
    pub state_output: String,
    /// Probability output (`[1, 1]`), default `"score"`.
    #[serde(default = "default_score")]
    pub score_output: String,
    /// A second carried state's input, for an LSTM's cell state `c`
    /// (`"c_in"` in `training/recurrent_cells.py`); none by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cell_input: Option<String>,
    /// The second state's output (`"c_out"`), given with `cell_input`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cell_output: Option<String>,
}

fn default_event() -> String {
    "event".into()
}
fn default_state_in() -> String {
    "h_in".into()
}
fn default_state_out() -> String {
    "h_out".into()
}
fn default_score() -> String {
    "score".into()
}

impl Default for RecurrentOptions {
    fn default() -> Self {
        RecurrentOptions {
            event_input: default_event(),
            state_input: default_state_in(),
            state_output: default_state_out(),
            score_output: default_score(),
            cell_input: None,
            cell_output: None,
        }
    }
}
