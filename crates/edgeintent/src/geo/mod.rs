//! Spatial intelligence: a coverage circle from the server, geofences with a
//! buffer ring around each, and adaptive location sampling. Fence transitions
//! are hard overrides: entering a fence fetches its service card, leaving it
//! reclaims the card, leaving the coverage circle asks for a new one, and each
//! fix sets when the next fix is due.
//!
//! GPS noise is handled by accuracy-aware hysteresis (inside only when
//! `distance + accuracy <= radius`, outside only when
//! `distance - accuracy >= radius + exit_margin`) and by dwell times before
//! ENTER and EXIT. Fences live in an `rstar` R-tree over Earth-centred
//! coordinates in metres, so the index works anywhere on the globe.

mod config;
mod engine;
mod geometry;
mod index;
mod motion;
mod sampling;

#[cfg(test)]
mod tests;

pub use config::{Coverage, FenceDef, GeoError, GeofenceConfig, SamplingConfig};
pub use engine::{FenceZone, GeoStats};
pub(crate) use engine::{Geo, GeoEvent};
pub use geometry::distance_m;
pub use index::{FenceIndex, Nearest};
