//! How the metrics layer times commands: one clock reading per command.
//!
//! A command's latency runs from its start to the moment its reply is
//! ready. Taken literally that is two clock readings per command, and on
//! the machines this project runs on a reading (`rdtsc`) costs ~12 ns: a
//! tenth of what a pipelined GET costs the server in all.
//!
//! When the layer is built [chained](super::MetricsLayer::chained), a
//! command that a connection runs straight after the previous one — the
//! next command of a pipeline, already read — starts when that one ended:
//! the reading that ended one command starts the next, so a pipeline
//! costs one reading per command, plus one per batch. A command's figure
//! then also holds the connection's own work between the two (writing the
//! previous reply into the buffer, building the request: tens of
//! nanoseconds), never a wait.
//!
//! The connection driving the stack keeps that true by calling
//! [`end_run`] whenever the next command does not follow straight on:
//! after every wait (reading the socket, flushing replies) and before
//! other work of its own (decoding a batch ahead, a session command).
//! The layer ends the run itself when a command has to wait (its future
//! is pending) or the stack is not ready. A reading also belongs to one
//! client: a command never starts from another client's reading, even if
//! a driver forgets a call, and requests of the server's own (client id 0)
//! are never chained.

use std::cell::Cell;

use super::Shared;

thread_local! {
    /// The client and the reading that ended its last command on this
    /// thread; a zero reading when there is none to start from.
    static LAST_END: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// The next command this thread runs does not follow straight on from the
/// last one: it starts from a reading of its own.
///
/// A connection driving a [chained](super::MetricsLayer::chained) metrics
/// layer calls this after every wait and before any work of its own
/// between commands (see the module docs). Cheap: a thread-local store.
#[inline]
pub fn end_run() {
    LAST_END.set((0, 0));
}

/// The reading a command of `client` starts from.
#[inline]
pub(crate) fn start(shared: &Shared, client: u64) -> u64 {
    if shared.chained {
        let (owner, reading) = LAST_END.get();
        if reading != 0 && owner == client {
            return reading;
        }
    }
    shared.clock.raw()
}

/// Read the clock as a command of `client` ends; a chained layer starts the
/// client's next command from this reading.
#[inline]
pub(crate) fn end(shared: &Shared, client: u64) -> u64 {
    let now = shared.clock.raw();
    if shared.chained && client != 0 {
        LAST_END.set((client, now));
    }
    now
}

/// Nanoseconds between two readings: one multiply by the clock's scale,
/// taken once when the layer is built ([`ns_per_2_32_ticks`]).
#[inline]
pub(crate) fn nanos(shared: &Shared, start: u64, end: u64) -> u64 {
    let ticks = end.saturating_sub(start);
    ((u128::from(ticks) * u128::from(shared.ns_per_2_32_ticks)) >> 32) as u64
}

/// The clock's scale: nanoseconds in 2^32 raw ticks (2^32 when a raw
/// reading is in nanoseconds already, as it is without a usable TSC).
pub(crate) fn ns_per_2_32_ticks(clock: &quanta::Clock) -> u64 {
    clock.delta_as_nanos(0, 1 << 32)
}
