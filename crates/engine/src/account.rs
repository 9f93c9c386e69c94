//! Sending one request and accounting for it: both loops send through
//! [`Phase::send_one`], which times the request, turns how it ended (OK,
//! failed, or cut off by the end of the phase) into its record, adds it to
//! the phase's shard of histograms and tallies, and streams the record.
//!
//! A measured request counts once, by how it ended: `ok` (with `short` and
//! `cold_loads` as marks on it), `failed` (by class and reason), or
//! `cancelled` (with `partial` when it had seen a token: its TTFT and gaps
//! go into the latency figures, its tokens into the totals). A warm-up
//! request is recorded and counts nowhere.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use stackbench_backends::{RequestError, StreamDriver};
use stackbench_core::record::{RequestErrorInfo, TokenCount};
use stackbench_core::summary::Totals;
use stackbench_core::sync::lock;
use stackbench_core::{
    CountSource, LatencyHistograms, RequestMetrics, RequestRecord, RequestStatus, TokenEvent,
};
use stackbench_wire::CountOutcome;

use crate::lag_book::Lateness;
use crate::phase::{DepthSample, Phase, Shard};
use crate::plan::micros;
use crate::session::TurnOf;
use stackbench_wire::body::Request;

/// A request about to be sent.
pub(crate) struct Sent {
    /// Request id.
    pub(crate) id: u64,
    /// The closed-loop worker sending it (0 in an open loop).
    pub(crate) worker: u32,
    /// The runtime lane it is sent from.
    pub(crate) lane: usize,
    /// What it is timed from: now in a closed loop, the planned send time
    /// in an open one.
    pub(crate) start: Instant,
    /// Open loop: how late it was sent.
    pub(crate) late: Option<Lateness>,
    /// Multi-turn runs: its conversation and turn.
    pub(crate) turn: Option<TurnOf>,
}

/// What the sender learns from a request that ended.
pub(crate) struct Sendout {
    /// The server refused the connection.
    pub(crate) refused: bool,
    /// It finished OK.
    pub(crate) ok: bool,
    /// Its answer text, when the request asked to keep it and it finished.
    pub(crate) answer: Option<String>,
}

/// Identity and timing of a request that just ended.
pub(crate) struct Finished {
    pub(crate) id: u64,
    pub(crate) worker: u32,
    pub(crate) lane: usize,
    pub(crate) start_unix_us: u64,
    pub(crate) start_offset_us: u64,
    pub(crate) stream_end_us: u64,
    pub(crate) late: Option<Lateness>,
    /// The output length this request asked for.
    pub(crate) target_output_tokens: u32,
    /// Multi-turn runs: its conversation and turn.
    pub(crate) turn: Option<TurnOf>,
}

/// How a request ended, as the tallies need it.
enum Ended {
    /// Cut off by the end of the phase.
    Cancelled,
    Failed(RequestError),
    /// Finished; its metrics when it carried content.
    Ok(Option<RequestMetrics>),
}

/// At most this many distinct error reasons are kept; the rest are pooled.
const MAX_ERROR_KINDS: usize = 32;

impl Phase {
    /// Sends `request` through `driver`, accounts for it, and streams its
    /// record.
    pub(crate) async fn send_one(
        &self,
        driver: &StreamDriver,
        sent: Sent,
        request: Request,
        events: &mut Vec<TokenEvent>,
    ) -> Sendout {
        let Sent {
            id,
            worker,
            lane,
            start,
            late,
            turn,
        } = sent;
        #[cfg(test)]
        if self.panic_at == Some(id) {
            panic!("test panic at request {id}");
        }
        events.clear();
        let start_offset_us = micros(start.saturating_duration_since(self.t0));
        let start_unix_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, micros)
            .saturating_sub(late.map_or(0, |l| l.lag_us));
        let result = tokio::select! {
            biased;
            _ = self.stop.cancelled() => None,
            r = driver.send(&request, start, events, &self.live.lane(lane).tokens) => Some(r),
        };
        let finished = Finished {
            id,
            worker,
            lane,
            start_unix_us,
            start_offset_us,
            stream_end_us: micros(start.elapsed()),
            late,
            target_output_tokens: request.max_tokens.unwrap_or(self.target_output_tokens),
            turn,
        };
        let refused = matches!(&result, Some(Err(RequestError::Connect { .. })));
        let ok = matches!(&result, Some(Ok(_)));
        let mut result = result;
        let answer = match &mut result {
            Some(Ok(c)) => c.reasoning.answer_text.take(),
            _ => None,
        };
        let record = self.account(&finished, result, events);
        if !self.sink.send(record).await {
            // requests.jsonl cannot be written: stop; the writer's error
            // ends the run (exit 2) once run.json says what was measured.
            self.mark_drain();
            self.stop.cancel();
        }
        Sendout {
            refused,
            ok,
            answer,
        }
    }

    /// Updates the phase with one request that ended (`None`: cut off by
    /// the end of the phase) and returns its record.
    pub(crate) fn account(
        &self,
        f: &Finished,
        result: Option<Result<CountOutcome, RequestError>>,
        events: &[TokenEvent],
    ) -> RequestRecord {
        let mut rec = new_record(f, events, !self.measured);
        let ended = match result {
            None => Ended::Cancelled,
            Some(Err(e)) => {
                rec.status = RequestStatus::Failed;
                rec.error = Some(RequestErrorInfo {
                    kind: e.kind(),
                    message: e.to_string(),
                    status: e.status(),
                });
                Ended::Failed(e)
            }
            Some(Ok(c)) => Ended::Ok(self.fill_ok(&mut rec, c, events, f.target_output_tokens)),
        };
        if self.depth_prefill {
            rec.depth_prefill = true;
            lock(&self.depth_samples).push(DepthSample {
                ok: matches!(ended, Ended::Ok(_)),
                ttft_us: rec.ttft_us,
                prompt_tokens: rec.prompt_tokens,
                cached_tokens: rec.cached_prompt_tokens,
            });
        }
        match self.shard(f.id) {
            Some(shard) => self.tally(f, &mut rec, &ended, events, shard),
            None if matches!(ended, Ended::Ok(_)) => {
                if let Some(rate) = rec.decode_tok_s {
                    self.note_warm_rate(rate);
                }
                let live = self.live.lane(f.lane);
                live.warmup_done.fetch_add(1, Ordering::Relaxed);
            }
            None => {}
        }
        rec
    }

    /// Fills the record of a request that finished from its counts;
    /// returns its metrics when it carried content.
    fn fill_ok(
        &self,
        rec: &mut RequestRecord,
        c: CountOutcome,
        events: &[TokenEvent],
        target_output_tokens: u32,
    ) -> Option<RequestMetrics> {
        rec.status = RequestStatus::Ok;
        rec.output_tokens = c.output_tokens;
        rec.count = TokenCount {
            source: c.source,
            counted: c.counted,
            server: c.server,
            reconciled: c.reconciled,
        };
        rec.prompt_tokens = c.prompt_tokens;
        rec.cached_prompt_tokens = c
            .cached_tokens
            .or(c.timings.as_ref().and_then(|t| t.cache_n));
        rec.finish_reason = c.finish_reason;
        rec.server_timings = c.timings;
        rec.reasoning_tokens = c.reasoning.reasoning_tokens;
        rec.reasoning_tokens_server = c.server_reasoning_tokens;
        rec.ttfat_us = c
            .reasoning
            .first_answer_event
            .and_then(|i| events.get(i))
            .map(|e| e.at_us);
        let calls = c.tool_calls;
        rec.ttftc_us = calls
            .first_event
            .and_then(|i| events.get(i))
            .map(|e| e.at_us);
        rec.tool_call_tokens = calls.tokens;
        rec.tool_calls = calls.calls;
        rec.short = c.output_tokens < u64::from(target_output_tokens);
        let load_ms = rec.server_timings.as_ref().and_then(|t| t.load_ms);
        rec.cold_load = load_ms.is_some_and(|ms| ms > self.cold_load_ms);
        let m = RequestMetrics::from_events(events, c.output_tokens);
        if let Some(m) = &m {
            rec.tpot_us = m.tpot_us;
            rec.decode_tok_s = m.decode_tok_s;
        }
        m
    }

    /// Adds a measured request to its shard (one lock), then to the
    /// timeline and the counters every worker reads.
    fn tally(
        &self,
        f: &Finished,
        rec: &mut RequestRecord,
        ended: &Ended,
        events: &[TokenEvent],
        shard: &Mutex<Shard>,
    ) {
        {
            let mut s = lock(shard);
            let Shard { hists, totals: t } = &mut *s;
            if let Some(late) = f.late {
                t.cap_waits += u64::from(late.cap_wait_us.is_some());
                hists.schedule_lag_us.record(late.lag_us);
                if let Some(book) = &self.lag {
                    book.record(f.start_offset_us, late);
                }
            }
            match ended {
                Ended::Cancelled => {
                    t.requests.cancelled += 1;
                    t.output_tokens += rec.output_tokens;
                    rec.partial = self.tally_partial(f, events, rec.output_tokens, hists);
                    t.requests.partial += u64::from(rec.partial);
                }
                Ended::Failed(e) => {
                    t.requests.failed += 1;
                    add_error(&mut t.errors, e);
                    *t.failures.entry(e.kind()).or_default() += 1;
                }
                Ended::Ok(m) => self.tally_ok(rec, m.as_ref(), events, t, hists),
            }
        }
        match ended {
            Ended::Cancelled => self.add_to_timeline(f.start_offset_us, events),
            Ended::Failed(_) => {
                self.live
                    .lane(f.lane)
                    .failed
                    .fetch_add(1, Ordering::Relaxed);
                self.done_failed.fetch_add(1, Ordering::Relaxed);
                self.check_error_rate();
            }
            Ended::Ok(_) => {
                self.add_to_timeline(f.start_offset_us, events);
                self.first_ok_us.fetch_min(self.now_us(), Ordering::Relaxed);
                self.live.lane(f.lane).ok.fetch_add(1, Ordering::Relaxed);
                self.done_ok.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// A measured request that finished: counts, SLO, and (unless it is a
    /// short one left out) latency and decode figures.
    fn tally_ok(
        &self,
        rec: &RequestRecord,
        m: Option<&RequestMetrics>,
        events: &[TokenEvent],
        t: &mut Totals,
        hists: &mut LatencyHistograms,
    ) {
        t.requests.short += u64::from(rec.short);
        t.requests.cold_loads += u64::from(rec.cold_load);
        if let (Some(slo), Some(m)) = (&self.slo, m) {
            t.slo_met += u64::from(slo.met_by(m.ttft_us, m.tpot_us, m.e2e_us));
        }
        if let Some(m) = m.filter(|_| !(rec.short && self.exclude_short)) {
            t.add_decode(m);
            m.record_into(events, hists);
            if let Some(at) = first_answer_us(rec) {
                hists.ttfat_us.record(at);
            }
        }
        tally_reasoning(rec, t);
        let prefill = rec.prompt_tokens.and_then(|p| {
            hists.prompt_tokens.record(p);
            let processed = self.processed_prompt(p, rec.cached_prompt_tokens);
            let ttft = m.map(|m| m.ttft_us).filter(|t| *t > 0)?;
            let rate = processed as f64 * 1e6 / ttft as f64;
            let mtps = (rate * 1000.0).round() as u64;
            hists.prefill_mtps.record(mtps);
            Some(mtps)
        });
        if let Some(at) = rec.turn {
            tally_turn(rec, at, m.map(|m| m.ttft_us), prefill, t, hists);
        }
        t.requests.ok += 1;
        t.requests.unreconciled += u64::from(!rec.count.reconciled);
        t.requests.estimated_counts += u64::from(rec.count.source == CountSource::Estimated);
        t.output_tokens += rec.output_tokens;
        t.prompt_tokens += rec.prompt_tokens.unwrap_or(0);
    }

    /// A measured request cut off by the end of the run: what it saw (TTFT,
    /// gaps) goes into the latency figures, and the moment its first token
    /// came bounds the steady window's start when no request completed.
    /// Returns whether it had seen a token.
    fn tally_partial(
        &self,
        f: &Finished,
        events: &[TokenEvent],
        counted: u64,
        hists: &mut LatencyHistograms,
    ) -> bool {
        let Some(m) = RequestMetrics::from_events(events, counted) else {
            return false;
        };
        m.record_partial_into(events, hists);
        self.last_first_token_us
            .fetch_max(f.start_offset_us + m.ttft_us, Ordering::Relaxed);
        true
    }

    fn add_to_timeline(&self, start_offset_us: u64, events: &[TokenEvent]) {
        let mut t = lock(&self.timeline);
        for e in events {
            t.add(start_offset_us + e.at_us, e.tokens);
        }
    }
}

/// When a finished request's answer began: after its reasoning, else its
/// first token.
fn first_answer_us(rec: &RequestRecord) -> Option<u64> {
    match rec.reasoning_tokens {
        Some(_) => rec.ttfat_us,
        None => rec.ttft_us,
    }
}

/// A record's prompt tokens and cached prompt tokens, when the server
/// reported both (the cache hit share counts only such requests).
fn cache_counts(rec: &RequestRecord) -> Option<(u64, u64)> {
    rec.prompt_tokens.zip(rec.cached_prompt_tokens)
}

/// A finished request's reasoning and prompt-cache counts.
fn tally_reasoning(rec: &RequestRecord, t: &mut Totals) {
    t.ok_output_tokens += rec.output_tokens;
    let reasoning = rec.reasoning_tokens_server.or(rec.reasoning_tokens);
    if rec.reasoning_tokens.is_some() || reasoning.is_some_and(|n| n > 0) {
        t.reasoning_requests += 1;
        t.reasoning_tokens += reasoning.unwrap_or(0);
    }
    if let Some((p, c)) = cache_counts(rec) {
        t.cached_prompt_tokens += c;
        t.cache_reported_prompt_tokens += p;
    }
}

/// A finished request of a conversation, in its turn's figures.
fn tally_turn(
    rec: &RequestRecord,
    at: u32,
    ttft_us: Option<u64>,
    prefill_mtps: Option<u64>,
    t: &mut Totals,
    hists: &mut LatencyHistograms,
) {
    let c = t.turns.entry(at).or_default();
    c.requests += 1;
    c.prompt_tokens += rec.prompt_tokens.unwrap_or(0);
    if let Some((p, cached)) = cache_counts(rec) {
        c.cached_prompt_tokens += cached;
        c.cache_reported_prompt_tokens += p;
    }
    let h = hists.turns.entry(at).or_default();
    if let Some(ttft) = ttft_us {
        h.ttft_us.record(ttft);
    }
    if let Some(rate) = prefill_mtps {
        h.prefill_mtps.record(rate);
    }
}

/// The record of a request that ended, as if cut off: what its events say.
fn new_record(f: &Finished, events: &[TokenEvent], warmup: bool) -> RequestRecord {
    let counted: u64 = events.iter().map(|e| u64::from(e.tokens)).sum();
    RequestRecord {
        id: f.id,
        worker: f.worker,
        shard: None,
        warmup,
        depth_prefill: false,
        status: RequestStatus::Cancelled,
        error: None,
        start_unix_us: f.start_unix_us,
        start_offset_us: f.start_offset_us,
        session: f.turn.map(|t| t.session),
        turn: f.turn.map(|t| t.turn),
        schedule_lag_us: f.late.map(|l| l.lag_us),
        cap_wait_us: f.late.and_then(|l| l.cap_wait_us),
        ttft_us: events.first().map(|e| e.at_us),
        ttfat_us: None,
        ttftc_us: None,
        e2e_us: events.last().map(|e| e.at_us),
        stream_end_us: f.stream_end_us,
        events: u32::try_from(events.len()).unwrap_or(u32::MAX),
        output_tokens: counted,
        count: TokenCount {
            source: CountSource::Estimated,
            counted,
            server: None,
            reconciled: false,
        },
        reasoning_tokens: None,
        reasoning_tokens_server: None,
        tool_call_tokens: None,
        tool_calls: None,
        prompt_tokens: None,
        cached_prompt_tokens: None,
        tpot_us: None,
        decode_tok_s: None,
        finish_reason: None,
        server_timings: None,
        short: false,
        cold_load: false,
        partial: false,
    }
}

/// Counts `e` under its reason (kind and message, cut to 160 characters);
/// past [`MAX_ERROR_KINDS`] reasons, new ones are pooled by kind.
fn add_error(errors: &mut BTreeMap<String, u64>, e: &RequestError) {
    let mut key: String = format!("{}: {e}", e.kind()).chars().take(160).collect();
    if !errors.contains_key(&key) && errors.len() >= MAX_ERROR_KINDS {
        key = format!("{}: (other reasons)", e.kind());
    }
    *errors.entry(key).or_default() += 1;
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use stackbench_core::record::FailureKind;
    use stackbench_core::ServerTimings;

    use super::*;
    use crate::phase::tests::phase_of;
    use crate::phase::Kind;
    use crate::plan::tests::plan;
    use crate::plan::{Bound, RunPlan};

    fn measured(plan: &RunPlan) -> Phase {
        let kind = Kind::Measured {
            first_id: 0,
            lag: None,
        };
        phase_of(plan, kind).0
    }

    fn finished(id: u64, start_offset_us: u64) -> Finished {
        Finished {
            id,
            worker: 1,
            lane: 0,
            start_unix_us: 1_000_000,
            start_offset_us,
            stream_end_us: 5_000,
            late: None,
            target_output_tokens: 4,
            turn: None,
        }
    }

    /// `n` events of one token, the first at 1 ms, then every 1 ms.
    fn events(n: u64) -> Vec<TokenEvent> {
        (1..=n)
            .map(|k| TokenEvent {
                at_us: k * 1_000,
                tokens: 1,
            })
            .collect()
    }

    fn ok(tokens: u64) -> Option<Result<CountOutcome, RequestError>> {
        Some(Ok(CountOutcome {
            source: CountSource::Estimated,
            counted: tokens,
            server: Some(tokens),
            reconciled: true,
            output_tokens: tokens,
            prompt_tokens: Some(10),
            cached_tokens: None,
            timings: None,
            finish_reason: Some("length".into()),
            reasoning: Default::default(),
            server_reasoning_tokens: None,
            tool_calls: Default::default(),
        }))
    }

    fn refused() -> Option<Result<CountOutcome, RequestError>> {
        Some(Err(RequestError::Connect {
            url: "http://127.0.0.1:9".into(),
            reason: "refused".into(),
        }))
    }

    #[test]
    fn a_completed_request_counts_as_ok_with_its_latencies_and_tokens() {
        let p = measured(&plan(1, Bound::Requests(1), 0));
        let rec = p.account(&finished(0, 2_000), ok(4), &events(4));
        assert_eq!(rec.status, RequestStatus::Ok);
        assert!(!rec.warmup && !rec.short && !rec.partial);
        assert_eq!((rec.ttft_us, rec.e2e_us), (Some(1_000), Some(4_000)));
        assert_eq!(rec.tpot_us, Some(1_000.0));
        let r = p.collect();
        let c = &r.totals.requests;
        assert_eq!((c.ok, c.failed, c.cancelled, c.partial), (1, 0, 0, 0));
        assert_eq!(r.totals.output_tokens, 4);
        assert_eq!(r.totals.prompt_tokens, 10);
        assert_eq!(r.hists.ttft_us.len(), 1);
        assert_eq!(r.hists.e2e_us.len(), 1);
        assert_eq!(r.hists.prompt_tokens.len(), 1);
        assert_eq!(p.live.snapshot(), (1, 0, 0));
        assert!(p.first_ok_us.load(Ordering::Relaxed) < u64::MAX);
        // Its tokens are on the timeline at their arrival since t0.
        assert_eq!(lock(&p.timeline).total(), 4);
    }

    #[test]
    fn a_failed_request_counts_by_class_and_reason_and_nowhere_else() {
        let p = measured(&plan(1, Bound::Requests(1), 0));
        let rec = p.account(&finished(0, 0), refused(), &[]);
        assert_eq!(rec.status, RequestStatus::Failed);
        assert_eq!(
            rec.error.as_ref().map(|e| e.kind),
            Some(FailureKind::Connect)
        );
        let r = p.collect();
        assert_eq!((r.totals.requests.ok, r.totals.requests.failed), (0, 1));
        assert_eq!(r.totals.failures.get(&FailureKind::Connect), Some(&1));
        let reasons: Vec<_> = r.totals.errors.keys().collect();
        assert_eq!(
            reasons,
            ["connect: cannot reach http://127.0.0.1:9: refused"]
        );
        assert!(r.hists.ttft_us.is_empty());
        assert_eq!(p.live.snapshot(), (0, 1, 0));
        assert_eq!(p.first_ok_us.load(Ordering::Relaxed), u64::MAX);
    }

    #[test]
    fn a_request_cut_off_after_its_first_token_is_cancelled_and_partial() {
        let p = measured(&plan(1, Bound::Requests(1), 0));
        let rec = p.account(&finished(0, 3_000), None, &events(2));
        assert_eq!(rec.status, RequestStatus::Cancelled);
        assert!(rec.partial);
        assert_eq!(rec.output_tokens, 2);
        let r = p.collect();
        let c = &r.totals.requests;
        assert_eq!((c.ok, c.cancelled, c.partial), (0, 1, 1));
        assert_eq!(r.totals.output_tokens, 2);
        // Its TTFT and gap count; it has no E2E.
        assert_eq!(r.hists.ttft_us.len(), 1);
        assert_eq!(r.hists.itl_us.len(), 1);
        assert!(r.hists.e2e_us.is_empty());
        // Its first token (3 ms + 1 ms) bounds the steady window's start.
        assert_eq!(p.last_first_token_us.load(Ordering::Relaxed), 4_000);
    }

    #[test]
    fn a_request_cut_off_before_any_token_is_cancelled_only() {
        let p = measured(&plan(1, Bound::Requests(1), 0));
        let rec = p.account(&finished(0, 3_000), None, &[]);
        assert_eq!(rec.status, RequestStatus::Cancelled);
        assert!(!rec.partial);
        let r = p.collect();
        let c = &r.totals.requests;
        assert_eq!((c.cancelled, c.partial), (1, 0));
        assert!(r.hists.ttft_us.is_empty());
        assert_eq!(p.last_first_token_us.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn warm_up_requests_are_recorded_and_counted_nowhere() {
        let pl = plan(1, Bound::Requests(1), 3);
        let (p, _rx) = phase_of(&pl, Kind::Warmup);
        let rec = p.account(&finished(0, 0), ok(4), &events(4));
        assert!(rec.warmup);
        assert_eq!(rec.status, RequestStatus::Ok);
        p.account(&finished(1, 0), refused(), &[]);
        p.account(&finished(2, 0), None, &events(1));
        let r = p.collect();
        assert_eq!(r.totals.requests, Default::default());
        assert_eq!(r.totals.output_tokens, 0);
        assert!(r.hists.ttft_us.is_empty());
        assert_eq!(p.live.warmup_done(), 1);
        assert_eq!(p.live.snapshot(), (0, 0, 0));
        assert_eq!(lock(&p.timeline).total(), 0);
    }

    #[test]
    fn a_short_request_is_counted_and_left_out_of_latencies_when_asked() {
        for exclude in [false, true] {
            let mut pl = plan(1, Bound::Requests(1), 0);
            pl.exclude_short = exclude;
            let p = measured(&pl);
            // Asked for 4, got 2.
            let rec = p.account(&finished(0, 0), ok(2), &events(2));
            assert!(rec.short);
            let r = p.collect();
            assert_eq!((r.totals.requests.ok, r.totals.requests.short), (1, 1));
            assert_eq!(r.totals.output_tokens, 2);
            assert_eq!(r.hists.e2e_us.len(), u64::from(!exclude));
        }
    }

    #[test]
    fn a_slow_model_load_marks_a_cold_load() {
        let p = measured(&plan(1, Bound::Requests(2), 0));
        for (id, load_ms) in [(0, 1500.0), (1, 20.0)] {
            let mut result = ok(4);
            if let Some(Ok(c)) = &mut result {
                c.timings = Some(ServerTimings {
                    load_ms: Some(load_ms),
                    ..ServerTimings::default()
                });
            }
            let rec = p.account(&finished(id, 0), result, &events(4));
            assert_eq!(rec.cold_load, id == 0);
        }
        assert_eq!(p.collect().totals.requests.cold_loads, 1);
    }

    #[test]
    fn open_loop_lateness_is_recorded_and_cap_waits_counted() {
        let p = measured(&plan(1, Bound::Requests(2), 0));
        let mut f = finished(0, 0);
        f.late = Some(Lateness {
            lag_us: 700,
            cap_wait_us: Some(500),
        });
        let rec = p.account(&f, ok(4), &events(4));
        assert_eq!(
            (rec.schedule_lag_us, rec.cap_wait_us),
            (Some(700), Some(500))
        );
        f.id = 1;
        f.late = Some(Lateness {
            lag_us: 50,
            cap_wait_us: None,
        });
        p.account(&f, ok(4), &events(4));
        let r = p.collect();
        assert_eq!(r.totals.cap_waits, 1);
        assert_eq!(r.hists.schedule_lag_us.len(), 2);
    }

    #[test]
    fn too_many_failures_stop_the_phase() {
        let mut pl = plan(1, Bound::Duration(Duration::from_secs(60)), 0);
        pl.max_error_pct = Some(50.0);
        let p = measured(&pl);
        for id in 0..19 {
            p.account(&finished(id, 0), refused(), &[]);
        }
        assert!(!p.stop.is_cancelled(), "19 finished are too few to judge");
        p.account(&finished(19, 0), refused(), &[]);
        assert!(p.stop.is_cancelled() && p.stopped_for_errors());
    }

    #[test]
    fn error_reasons_past_the_limit_are_pooled_by_class() {
        let mut errors = BTreeMap::new();
        for k in 0..(MAX_ERROR_KINDS + 5) {
            let e = RequestError::Connect {
                url: format!("http://host{k}"),
                reason: "refused".into(),
            };
            add_error(&mut errors, &e);
        }
        assert_eq!(errors.len(), MAX_ERROR_KINDS + 1);
        assert_eq!(errors.get("connect: (other reasons)"), Some(&5));
        assert_eq!(errors.values().sum::<u64>(), MAX_ERROR_KINDS as u64 + 5);
    }

    #[test]
    fn an_slo_counts_the_requests_that_met_it() {
        let mut pl = plan(1, Bound::Requests(2), 0);
        pl.slo = Some(stackbench_core::slo::Slo {
            ttft_ms: Some(1.5),
            ..Default::default()
        });
        let p = measured(&pl);
        p.account(&finished(0, 0), ok(4), &events(4));
        let mut late_events = events(4);
        late_events.iter_mut().for_each(|e| e.at_us += 5_000);
        p.account(&finished(1, 0), ok(4), &late_events);
        assert_eq!(p.collect().totals.slo_met, 1);
    }
}
