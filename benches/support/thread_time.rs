//! A criterion measurement of the CPU time the benchmarking thread used,
//! instead of wall time.
//!
//! This machine is shared: with other builds running, a wall-clock median
//! moved by up to 1.4× between two runs minutes apart, mostly time spent
//! descheduled. The CPU time of the thread leaves that out. It is the right
//! clock only for work that runs entirely on the calling thread and never
//! waits (no sockets, no other threads): the codec, the command table, the
//! memory store, and the stack on a current-thread runtime. On an idle
//! machine it reads the same as wall time for such work.

use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use rustix::time::{clock_gettime, ClockId};

/// CPU time of the calling thread (`CLOCK_THREAD_CPUTIME_ID`).
pub struct ThreadTime {
    /// Only for its formatter: values are durations, shown as wall time's.
    wall: WallTime,
}

impl ThreadTime {
    pub fn new() -> ThreadTime {
        ThreadTime { wall: WallTime }
    }
}

/// The CPU time the calling thread has used so far.
pub fn thread_cpu_time() -> Duration {
    let t = clock_gettime(ClockId::ThreadCPUTime);
    // The kernel never reports negative CPU time or out-of-range nanoseconds.
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

impl Measurement for ThreadTime {
    type Intermediate = Duration;
    type Value = Duration;

    fn start(&self) -> Duration {
        thread_cpu_time()
    }

    fn end(&self, start: Duration) -> Duration {
        thread_cpu_time().saturating_sub(start)
    }

    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }

    fn zero(&self) -> Duration {
        Duration::ZERO
    }

    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        self.wall.formatter()
    }
}
