//! anprd — an edge gateway for fixed ANPR camera sites.
//!
//! The crate reads as the pipeline it runs:
//!
//! ```text
//! capture ──▶ recognise ──▶ group ──▶ spool ──▶ forward
//! (threads)    (threads)    (inline)  (thread)   (tokio)
//! ```
//!
//! Each stage owns one module with a small public face; stages are joined by
//! bounded channels. [`config`], the [`record`] of a read, [`health`] counters
//! and the [`cli`] sit beside the pipeline.

pub mod capture;
pub mod cli;
pub mod clock;
pub mod config;
pub mod forward;
pub mod group;
pub mod health;
pub mod imaging;
pub mod logging;
pub mod memory;
pub mod notify;
pub mod pipeline;
pub mod plate;
pub mod recognise;
pub mod record;
pub mod reload;
pub mod seal;
pub mod spool;
pub mod status;
pub mod supervise;
