//! Scrapes the server's Prometheus `/metrics` before, during and after the
//! measured phase into `server-metrics.jsonl`, and derives the server's
//! figures for the same work. A missing or disabled endpoint is noted in
//! `run.json`, never fatal.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use stackbench_backends::{
    cache_config, scrape_metrics, ControlClient, GaugeMaxima, ServerCounters,
};
use stackbench_core::run_file::ServerMetrics;
use stackbench_core::summary::Summary;
use stackbench_core::sync::lock;
use stackbench_engine::PhaseHooks;
use stackbench_wire::prometheus::Sample;
use tokio_util::sync::CancellationToken;

use crate::error::{io_at, RunnerError};

/// After the run, wait at most this long for the server to go idle so that
/// its counters include the last requests.
const SETTLE_FOR: Duration = Duration::from_secs(3);

/// The scraper, used as the engine's [`PhaseHooks`].
pub struct MetricsWatch {
    client: ControlClient,
    file: Arc<Mutex<Option<File>>>,
    path: PathBuf,
    /// The first failure to write `server-metrics.jsonl` (later scrapes
    /// are not written; the run reports it).
    write_error: Arc<Mutex<Option<std::io::Error>>>,
    /// Cancelled on that failure: the run stops within a scrape interval.
    stop: CancellationToken,
    t0: Instant,
    scrapes: Arc<Mutex<u64>>,
    maxima: Arc<Mutex<GaugeMaxima>>,
    cache_config: Option<std::collections::BTreeMap<String, String>>,
    before: Option<(Instant, ServerCounters)>,
    after: Option<(Instant, ServerCounters)>,
    note: Option<String>,
    during: Option<tokio::task::JoinHandle<()>>,
    every: Duration,
}

impl MetricsWatch {
    /// A watch of the `/metrics` of the server `client` talks to, writing into
    /// `dir/server-metrics.jsonl`, scraping `every` so often during the
    /// measured phase. Gauges (running, waiting, KV-cache use) are only seen
    /// at scrapes, so the interval must be well below the run's length. A
    /// failure to write the file cancels `stop` (the run's own token), so
    /// a full disk ends the run at once rather than at its end.
    pub fn new(
        client: &ControlClient,
        dir: &Path,
        every: Duration,
        stop: CancellationToken,
    ) -> Result<Self, RunnerError> {
        let path = dir.join("server-metrics.jsonl");
        let file = File::create(&path).map_err(io_at(&path))?;
        Ok(Self {
            client: client.clone(),
            file: Arc::new(Mutex::new(Some(file))),
            path,
            write_error: Arc::new(Mutex::new(None)),
            stop,
            t0: Instant::now(),
            scrapes: Arc::new(Mutex::new(0)),
            maxima: Arc::new(Mutex::new(GaugeMaxima::default())),
            cache_config: None,
            before: None,
            after: None,
            note: None,
            during: None,
            every,
        })
    }

    fn sink(&self) -> Sink {
        Sink {
            t0: self.t0,
            file: self.file.clone(),
            write_error: self.write_error.clone(),
            stop: self.stop.clone(),
            scrapes: self.scrapes.clone(),
            maxima: self.maxima.clone(),
        }
    }

    async fn scrape(&mut self, phase: &str) -> Option<(Instant, ServerCounters)> {
        let sink = self.sink();
        match scrape_and_log(&self.client, phase, &sink).await {
            Ok((at, c, samples)) => {
                if self.cache_config.is_none() {
                    self.cache_config = cache_config(&samples);
                }
                Some((at, c))
            }
            Err(e) => {
                self.note
                    .get_or_insert_with(|| format!("metrics unavailable: {e}"));
                None
            }
        }
    }

    /// The first failure to write `server-metrics.jsonl`, with its path.
    pub fn take_write_error(&self) -> Option<(PathBuf, std::io::Error)> {
        lock(&self.write_error)
            .take()
            .map(|e| (self.path.clone(), e))
    }

    /// The server's figures beside the client's `summary`.
    pub fn finish(&self, summary: &Summary) -> ServerMetrics {
        let mut m = ServerMetrics {
            endpoint: self
                .client
                .root()
                .join("metrics")
                .map(|u| u.to_string())
                .unwrap_or_default(),
            available: self.before.is_some(),
            note: self.note.clone(),
            scrapes: *lock(&self.scrapes),
            ..ServerMetrics::default()
        };
        let (Some((t1, a)), Some((t2, b))) = (self.before, self.after) else {
            return m;
        };
        let delta = |x: Option<f64>, y: Option<f64>| Some(y? - x?);
        let window = (t2 - t1).as_secs_f64();
        m.window_s = Some(window);
        m.tokens = delta(a.tokens, b.tokens);
        m.tokens_seconds = delta(a.tokens_seconds, b.tokens_seconds);
        m.prompt_tokens = delta(a.prompt_tokens, b.prompt_tokens);
        m.tok_s_wall = m.tokens.filter(|_| window > 0.0).map(|t| t / window);
        // llama-server: its generation clock starts at each request's
        // first token (`predicted_ms` equals the client's first-to-last
        // span), while the token counter includes that first token, so
        // like for like is (tokens − requests) / seconds; tokens / seconds
        // reads n/(n − 1) high (+3% at 32 output tokens).
        let finished = summary.requests.ok as f64;
        m.per_stream_decode_tok_s = m
            .tokens
            .zip(m.tokens_seconds)
            .filter(|(_, s)| *s > 0.0)
            .map(|(t, s)| (t - finished).max(0.0) / s);
        // vLLM: the decode phase excludes each request's first token. The
        // tokens are those of the requests the decode histogram observed
        // (finished ones); `generation_tokens_total` would add the tokens
        // of requests cut off at the end of a timed run, whose decode time
        // is never observed (+28% at c=4 for a 6 s run).
        let decode_s = delta(a.decode_seconds, b.decode_seconds);
        let decode_n = delta(a.decode_requests, b.decode_requests);
        let finished = delta(a.finished_tokens, b.finished_tokens).or(m.tokens);
        if let (None, Some(t), Some(s), Some(n)) =
            (m.per_stream_decode_tok_s, finished, decode_s, decode_n)
        {
            m.per_stream_decode_tok_s = (s > 0.0).then(|| (t - n) / s);
        }
        let drafts = delta(a.spec_drafts, b.spec_drafts).filter(|d| *d > 0.0);
        let proposed = delta(a.spec_draft_tokens, b.spec_draft_tokens);
        let accepted = delta(a.spec_accepted_tokens, b.spec_accepted_tokens);
        if let (Some(d), Some(p), Some(acc)) = (drafts, proposed, accepted) {
            m.spec_drafts = Some(d);
            m.spec_acceptance_rate = (p > 0.0).then(|| acc / p);
            m.spec_mean_acceptance_length = Some(1.0 + acc / d);
        }
        {
            let mx = lock(&self.maxima);
            m.max_running = mx.running;
            m.max_waiting = mx.waiting;
            m.max_kv_cache_usage = mx.kv_cache_usage;
        }
        m.preemptions = delta(a.preemptions, b.preemptions);
        m.prefix_cache_hit_rate = delta(a.prefix_cache_hits, b.prefix_cache_hits)
            .zip(delta(a.prefix_cache_queries, b.prefix_cache_queries))
            .filter(|(_, q)| *q > 0.0)
            .map(|(h, q)| h / q);
        m.cache_config = self.cache_config.clone();
        let pct =
            |ours: f64, theirs: f64| (theirs != 0.0).then(|| (ours - theirs) / theirs * 100.0);
        m.tokens_diff_pct = m.tokens.and_then(|t| pct(summary.output_tokens as f64, t));
        m.tok_s_diff_pct = m.tok_s_wall.and_then(|r| pct(summary.output_tok_s_wall, r));
        m.decode_diff_pct = summary
            .decode_tok_s_pooled
            .zip(m.per_stream_decode_tok_s)
            .and_then(|(ours, theirs)| pct(ours, theirs));
        m
    }
}

/// `every` scaled by a random factor in [0.75, 1.25]. Closed-loop workers
/// that start together finish together, so the server's batch turns over
/// with a fixed period; a scrape period close to it samples every turnover
/// and never the full batch (seen on vLLM: a c=8 run whose requests took
/// 0.95 s read 1 running at every 1 s scrape, 8 at 250 ms scrapes).
/// Jitter breaks that lock; the mean interval stays `every`.
fn jittered(every: Duration, rng: &mut impl Rng) -> Duration {
    every.mul_f64(rng.gen_range(0.75..=1.25))
}

/// Where scrapes go: the JSONL file, the scrape count, the gauge maxima.
#[derive(Clone)]
struct Sink {
    t0: Instant,
    file: Arc<Mutex<Option<File>>>,
    write_error: Arc<Mutex<Option<std::io::Error>>>,
    stop: CancellationToken,
    scrapes: Arc<Mutex<u64>>,
    maxima: Arc<Mutex<GaugeMaxima>>,
}

async fn scrape_and_log(
    client: &ControlClient,
    phase: &str,
    sink: &Sink,
) -> Result<(Instant, ServerCounters, Vec<Sample>), stackbench_backends::RequestError> {
    let (t0, file, scrapes) = (sink.t0, &sink.file, &sink.scrapes);
    let sent = Instant::now();
    let (_, samples) = scrape_metrics(client).await?;
    // The scrape's instant: halfway through the request.
    let at = sent + (Instant::now() - sent) / 2;
    let line = serde_json::json!({
        "phase": phase,
        "t_s": (at - t0).as_secs_f64(),
        "unix_ms": SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64),
        "samples": flatten(&samples),
    });
    {
        let mut f = lock(file);
        if let Some(Err(e)) = f.as_mut().map(|f| writeln!(f, "{line}")) {
            lock(&sink.write_error).get_or_insert(e);
            *f = None;
            sink.stop.cancel();
        }
    }
    *lock(scrapes) += 1;
    let counters = ServerCounters::from_samples(&samples);
    lock(&sink.maxima).update(&counters);
    Ok((at, counters, samples))
}

/// `name{k="v",...}` → value.
fn flatten(samples: &[Sample]) -> serde_json::Map<String, serde_json::Value> {
    samples
        .iter()
        .map(|s| {
            let key = if s.labels.is_empty() {
                s.name.clone()
            } else {
                let labels: Vec<String> =
                    s.labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
                format!("{}{{{}}}", s.name, labels.join(","))
            };
            let v = serde_json::Number::from_f64(s.value)
                .map_or(serde_json::Value::Null, serde_json::Value::Number);
            (key, v)
        })
        .collect()
}

impl PhaseHooks for MetricsWatch {
    async fn before_measure(&mut self) {
        self.before = self.scrape("before").await;
        if self.before.is_none() {
            return;
        }
        let (client, every) = (self.client.clone(), self.every);
        let sink = self.sink();
        self.during = Some(tokio::spawn(async move {
            let mut rng = SmallRng::from_entropy();
            loop {
                tokio::time::sleep(jittered(every, &mut rng)).await;
                let _ = scrape_and_log(&client, "during", &sink).await;
            }
        }));
    }

    async fn after_measure(&mut self) {
        if let Some(t) = self.during.take() {
            t.abort();
        }
        if self.before.is_none() {
            return;
        }
        // Counters are updated when a slot finishes, which can trail the
        // last byte the client read: wait until the server is idle.
        let until = Instant::now() + SETTLE_FOR;
        loop {
            let s = self.scrape("after").await;
            let idle = s.is_some_and(|(_, c)| c.idle());
            self.after = s;
            if idle || Instant::now() >= until || self.after.is_none() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrape_intervals_vary_within_a_quarter_of_the_asked_interval() {
        let mut rng = SmallRng::seed_from_u64(7);
        let every = Duration::from_secs(1);
        let gaps: Vec<Duration> = (0..200).map(|_| jittered(every, &mut rng)).collect();
        let (lo, hi) = (every.mul_f64(0.75), every.mul_f64(1.25));
        assert!(gaps.iter().all(|g| (lo..=hi).contains(g)), "{gaps:?}");
        let spread = gaps
            .iter()
            .max()
            .unwrap()
            .saturating_sub(*gaps.iter().min().unwrap());
        assert!(
            spread > Duration::from_millis(300),
            "not locked to one phase: {spread:?}"
        );
        let mean = gaps.iter().sum::<Duration>() / 200;
        assert!(
            mean.abs_diff(every) < Duration::from_millis(50),
            "mean {mean:?}"
        );
    }
}
