//! Self-monitoring over the measured phase: the client's CPU time, its
//! runtime thread's time on and waiting for a CPU, and a wake-up probe.
//!
//! The probe is a thread that, every [`PROBE_INTERVAL`], stamps the time and
//! wakes a task on the runtime through a channel; the task records how long
//! it took to run. That is the path a network event takes (the runtime is
//! woken, then polls the task), so the lag is how late the client would
//! have read a token that arrived at that moment. The probe waits for each
//! answer before its next ping, so a stalled runtime gives one long sample,
//! not a queue of short ones. Cost: one wake-up per interval.
//!
//! CPU figures come from `/proc` (Linux); elsewhere they are left out and
//! the probe alone judges the run.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stackbench_core::client_load::{ClientFigures, ClientLoad};
use stackbench_core::histogram::Hist;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio_util::sync::CancellationToken;

use crate::lanes::Lanes;
use crate::plan::micros;

/// How often the probe pings the runtime.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(5);

/// Watches the client from the start of the measured phase: the process's
/// CPU time, and one [`LaneWatch`] on every runtime thread.
pub(crate) struct SelfWatch {
    started: Instant,
    cpu_start: Option<f64>,
    stop: CancellationToken,
    lanes: Vec<tokio::task::JoinHandle<LaneFigures>>,
}

impl SelfWatch {
    /// Starts watching every lane.
    pub(crate) fn start(lanes: &Lanes) -> Self {
        let stop = CancellationToken::new();
        let watches = lanes
            .all()
            .iter()
            .map(|lane| {
                let stop = stop.clone();
                lane.spawn(async move {
                    let watch = LaneWatch::start();
                    stop.cancelled().await;
                    watch.finish().await
                })
            })
            .collect();
        Self {
            started: Instant::now(),
            cpu_start: process_cpu_s(),
            stop,
            lanes: watches,
        }
    }

    /// Stops the probes and judges the client's load over the phase.
    pub(crate) async fn finish(self, output_tokens: u64) -> ClientLoad {
        let wall_s = self.started.elapsed().as_secs_f64();
        let cpu_end = process_cpu_s();
        self.stop.cancel();
        let mut wake_lag_us = Hist::latency();
        let (mut busiest, mut longest_wait): (Option<f64>, Option<f64>) = (None, None);
        let threads = u32::try_from(self.lanes.len()).unwrap_or(u32::MAX);
        for lane in self.lanes {
            // A lane watch only ends by returning; if it panicked, its
            // figures are missing and the others still count.
            let Ok(f) = lane.await else { continue };
            wake_lag_us.merge(&f.wake_lag_us);
            if let Some(d) = f.sched {
                busiest = Some(busiest.map_or(d.run_s, |b| b.max(d.run_s)));
                longest_wait = Some(longest_wait.map_or(d.wait_s, |w| w.max(d.wait_s)));
            }
        }
        ClientLoad::judge(&ClientFigures {
            threads,
            wall_s,
            output_tokens,
            cpu_s: self.cpu_start.zip(cpu_end).map(|(a, b)| (b - a).max(0.0)),
            runtime_cpu_s: busiest,
            runtime_wait_s: longest_wait,
            wake_lag_us,
            probe_interval_ms: PROBE_INTERVAL.as_secs_f64() * 1000.0,
        })
    }
}

/// What one runtime thread showed.
struct LaneFigures {
    sched: Option<SchedDelta>,
    wake_lag_us: Hist,
}

/// The wake-up probe and the scheduler figures of one runtime thread.
struct LaneWatch {
    thread_start: Option<SchedStat>,
    stop: Arc<AtomicBool>,
    answers: tokio::task::JoinHandle<Hist>,
    probe: Option<std::thread::JoinHandle<()>>,
}

impl LaneWatch {
    /// Starts watching the runtime thread it is called on.
    fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (ping_tx, ping_rx) = unbounded_channel();
        let (pong_tx, pong_rx) = channel();
        let answers = tokio::spawn(answer_pings(ping_rx, pong_tx));
        let probe = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("stackbench-probe".into())
                .spawn(move || ping_runtime(&stop, &ping_tx, &pong_rx))
        };
        if let Err(e) = &probe {
            tracing::warn!("cannot start the wake-up probe thread: {e}");
        }
        Self {
            thread_start: SchedStat::of_this_thread(),
            stop,
            answers,
            probe: probe.ok(),
        }
    }

    /// Stops the probe; call on the same runtime thread.
    async fn finish(self) -> LaneFigures {
        let sched = self
            .thread_start
            .zip(SchedStat::of_this_thread())
            .map(|(a, b)| b.since(a));
        self.stop.store(true, Ordering::Relaxed);
        // Without a probe thread the ping sender is gone already and the
        // task has ended with no samples.
        let wake_lag_us = self.answers.await.unwrap_or_else(|_| Hist::latency());
        if let Some(t) = self.probe {
            // It has dropped its sender, so it is returning.
            let _ = t.join();
        }
        LaneFigures { sched, wake_lag_us }
    }
}

/// The probe thread: ping, wait for the answer, sleep, until stopped.
fn ping_runtime(stop: &AtomicBool, ping: &UnboundedSender<Instant>, pong: &Receiver<()>) {
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(PROBE_INTERVAL);
        if ping.send(Instant::now()).is_err() {
            return;
        }
        loop {
            match pong.recv_timeout(Duration::from_millis(50)) {
                Ok(()) => break,
                Err(RecvTimeoutError::Timeout) if !stop.load(Ordering::Relaxed) => {}
                Err(_) => return,
            }
        }
    }
}

/// The runtime side: time each ping from its stamp to now.
async fn answer_pings(mut ping: UnboundedReceiver<Instant>, pong: Sender<()>) -> Hist {
    let mut lags = Hist::latency();
    while let Some(sent) = ping.recv().await {
        lags.record(micros(sent.elapsed()));
        if pong.send(()).is_err() {
            break;
        }
    }
    lags
}

/// A thread's scheduler accounting: time on a CPU and time ready to run
/// but waiting for one (`/proc/thread-self/schedstat`, ns).
#[derive(Debug, Clone, Copy)]
struct SchedStat {
    run_ns: u64,
    wait_ns: u64,
}

/// The difference of two [`SchedStat`]s, s.
#[derive(Debug, Clone, Copy)]
struct SchedDelta {
    run_s: f64,
    wait_s: f64,
}

impl SchedStat {
    fn of_this_thread() -> Option<Self> {
        let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
        parse_schedstat(&text)
    }

    fn since(self, start: Self) -> SchedDelta {
        let s = |a: u64, b: u64| a.saturating_sub(b) as f64 / 1e9;
        SchedDelta {
            run_s: s(self.run_ns, start.run_ns),
            wait_s: s(self.wait_ns, start.wait_ns),
        }
    }
}

fn parse_schedstat(text: &str) -> Option<SchedStat> {
    let mut f = text.split_whitespace().map(str::parse::<u64>);
    Some(SchedStat {
        run_ns: f.next()?.ok()?,
        wait_ns: f.next()?.ok()?,
    })
}

/// User + system CPU time of this process, s (`/proc/self/stat`).
fn process_cpu_s() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/self/stat").ok()?;
    parse_stat_cpu_s(&text)
}

/// Clock ticks per second of `/proc/<pid>/stat`: `USER_HZ`, 100 on every
/// Linux architecture.
const USER_HZ: f64 = 100.0;

fn parse_stat_cpu_s(text: &str) -> Option<f64> {
    // The command name (field 2) is in parentheses and may hold spaces;
    // utime and stime are fields 14 and 15, the 12th and 13th after it.
    let rest = &text[text.rfind(')')? + 1..];
    let mut f = rest.split_whitespace().skip(11).map(str::parse::<u64>);
    let utime = f.next()?.ok()?;
    let stime = f.next()?.ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

#[cfg(test)]
mod tests {
    use super::*;
    use stackbench_backends::{normalize_base_url, StreamDriver, StreamTarget};
    use stackbench_wire::body::{Api, BodyOptions};

    /// A driver nothing is sent through: lanes need one.
    fn test_driver() -> Arc<StreamDriver> {
        let target = StreamTarget {
            root: normalize_base_url("http://127.0.0.1:9").expect("a valid URL"),
            api: Api::Chat,
            api_key: None,
            body: BodyOptions {
                model: "m".into(),
                max_tokens: 1,
                ignore_eos: false,
                temperature: 0.0,
                seed: None,
                per_event_counts: false,
                extra: Default::default(),
                switches: serde_json::Map::new(),
                salt_field: false,
            },
            request_timeout: Duration::from_secs(1),
            first_byte_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
            reuse_connections: false,
            counts_stop_token: false,
        };
        Arc::new(StreamDriver::new(target).expect("a client"))
    }

    #[test]
    fn proc_files_parse() {
        let s = parse_schedstat("123456789 2000000000 42\n").expect("schedstat");
        assert_eq!((s.run_ns, s.wait_ns), (123_456_789, 2_000_000_000));
        assert!(parse_schedstat("garbage").is_none());
        let stat =
            "4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 120 0 0 0 250 75 0 0 20 0 3 0 1 2 3";
        assert_eq!(parse_stat_cpu_s(stat), Some(3.25));
        assert!(parse_stat_cpu_s("4242 (x) S 1").is_none());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_idle_runtime_answers_the_probe_quickly_and_a_blocked_one_late() {
        let lanes = Lanes::single(test_driver());
        let watch = SelfWatch::start(&lanes);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let idle = watch.finish(0).await;
        assert!(idle.wake_lag_ms.count >= 10, "{idle:?}");

        let watch = SelfWatch::start(&lanes);
        tokio::time::sleep(Duration::from_millis(20)).await;
        // Block the runtime thread: the pending ping waits the whole time.
        std::thread::sleep(Duration::from_millis(300));
        tokio::time::sleep(Duration::from_millis(20)).await;
        let blocked = watch.finish(0).await;
        let max = blocked.wake_lag_ms.max.unwrap_or(0.0);
        // The ping sent at most one interval after the block began waited
        // out the rest of it.
        assert!(max >= 250.0, "{blocked:?}");
        assert!(blocked.saturated, "{blocked:?}");
        if cfg!(target_os = "linux") {
            assert!(blocked.cpu_s.is_some() && blocked.runtime_busy_pct.is_some());
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn every_lane_is_probed() {
        let lanes = Lanes::new(test_driver(), 3).expect("three runtime threads");
        let watch = SelfWatch::start(&lanes);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let load = watch.finish(0).await;
        assert_eq!(load.threads, 3);
        // Three probes, one per lane, each answering every few ms.
        assert!(load.wake_lag_ms.count >= 30, "{load:?}");
    }
}
