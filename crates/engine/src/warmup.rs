//! The warm-up phase: a fixed number of requests (`--warmup-requests N`)
//! or, under `--warmup auto`, requests until consecutive decode rates
//! agree, within a cap of requests and seconds. Either way the phase
//! reports what it did ([`WarmupReport`]) and how many ids it used, so the
//! measured ids follow on.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use stackbench_core::hygiene::WarmupReport;
use stackbench_core::sync::lock;

use crate::lanes::Lanes;
use crate::phase::{Kind, Phase, Shared};
use crate::plan::RunPlan;

/// What the warm-up did: the ids it took (a fixed warm-up takes its
/// planned range whatever it sent, so the measured ids are the same run
/// to run; `auto` takes what it sent), its report (none without a
/// warm-up), and its engine warnings.
pub(crate) struct WarmedUp {
    pub(crate) sent: u64,
    pub(crate) report: Option<WarmupReport>,
    pub(crate) warnings: Vec<String>,
}

/// Runs the warm-up of `plan` (nothing when it has none).
pub(crate) async fn warm_up(plan: &RunPlan, lanes: &Lanes, shared: Shared) -> WarmedUp {
    if plan.warmup_requests == 0 {
        return WarmedUp {
            sent: 0,
            report: None,
            warnings: Vec::new(),
        };
    }
    let began = Instant::now();
    let warm = Arc::new(Phase::new(plan, Kind::Warmup, shared));
    let cap = plan.warmup_auto.map(|rule| {
        let warm = warm.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs_f64(rule.max_seconds)).await;
            warm.warm_done.store(true, Ordering::Relaxed);
        })
    });
    crate::closed_loop::run(warm.clone(), plan.warmup_workers(), lanes).await;
    if let Some(t) = cap {
        t.abort();
    }
    let end = warm.end_id().unwrap_or(plan.warmup_requests);
    let sent = warm.next_id.load(Ordering::Relaxed).min(end);
    let ids = if plan.warmup_auto.is_some() {
        sent
    } else {
        plan.warmup_requests
    };
    let rates = lock(&warm.warm_rates).clone();
    let report = WarmupReport {
        mode: if plan.warmup_auto.is_some() {
            "auto"
        } else {
            "fixed"
        }
        .into(),
        requests: sent,
        seconds: began.elapsed().as_secs_f64(),
        steady: plan.warmup_auto.map(|rule| rule.steady(&rates)),
        rates_tok_s: rates,
        rule: plan.warmup_auto,
    };
    WarmedUp {
        sent: ids,
        report: Some(report),
        warnings: warm.take_warnings(),
    }
}
