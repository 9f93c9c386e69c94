//! A scenario, merged with the suite's defaults, as the runner's
//! [`RunSettings`]: the one mapping that the loader checks, by the rules
//! `stackbench run`'s flags go through, and that the suite runs. A mistake
//! is placed at the scenario key it is about, or at the `[defaults]` key
//! the scenario inherited.

use stackbench_core::hygiene::AutoWarmup;
use std::path::Path;
use std::time::Duration;

use stackbench_core::open_loop::Arrival;
use stackbench_engine::{Bound, OpenLoopPlan};
use stackbench_runner::dataset::DatasetSpec;
use stackbench_runner::{RunSettings, Setting};

use stackbench_core::stack::{DurationText, StackConfig};

use crate::config::types::{Scenario, SuiteConfig};

/// The load of `scenario` (one level, as the loader expands lists) of the
/// suite `config`, read from `file`: its dataset drawn the same for every
/// stack and repeat.
pub(crate) fn scenario_settings(config: &SuiteConfig, file: &Path, s: &Scenario) -> RunSettings {
    let d = &config.defaults;
    let open_loop = s.rate().map(|rate| OpenLoopPlan {
        rate,
        arrival: s.arrival.unwrap_or(Arrival::Poisson),
        max_concurrency: s.max_concurrency,
    });
    RunSettings {
        // Warm-up workers of an open-loop scenario: its cap, else one.
        concurrency: match open_loop {
            Some(_) => s.max_concurrency.unwrap_or(1),
            None => s.users(),
        },
        open_loop,
        bound: match (&s.duration, s.requests) {
            (Some(t), _) => Bound::Duration(t.get()),
            (None, Some(n)) => Bound::Requests(n),
            // The loader refuses a scenario without either.
            (None, None) => Bound::Requests(1),
        },
        warmup_requests: s
            .warmup_requests
            .unwrap_or(d.warmup_requests)
            .requests(&AutoWarmup::default()),
        warmup_auto: s
            .warmup_requests
            .unwrap_or(d.warmup_requests)
            .rule(AutoWarmup::default()),
        reset_cache: s.reset_cache.unwrap_or(d.reset_cache),
        prompt_tokens: s.prompt_tokens.unwrap_or(d.prompt_tokens),
        output_tokens: s.output_tokens.unwrap_or(d.output_tokens),
        shared_prefix_tokens: s.shared_prefix_tokens.unwrap_or(d.shared_prefix_tokens),
        dataset: s.dataset.as_ref().map(|p| DatasetSpec {
            path: file.parent().unwrap_or(Path::new(".")).join(p),
            sample: s.dataset_sample,
            sample_seed: Some(sample_seed(&config.name, &s.name)),
            ..Default::default()
        }),
        slo: s.slo,
        thinking: s.thinking.unwrap_or_default(),
        thinking_budget: s.thinking_budget,
        turns: s.turns.unwrap_or(1),
        think_time: s.think_time.as_ref().map_or(Duration::ZERO, |t| t.get()),
        cache_salt: s.cache_salt.unwrap_or(false),
        depth: s.depth_tokens(),
        depth_cache: s.depth_cache != Some(crate::config::types::OnOff::Off),
        trace: s.trace.as_ref().map(|t| scenario_trace(t, file, s)),
        ..with_timeouts(
            RunSettings::default(),
            &s.first_byte_timeout,
            &s.request_timeout,
        )
    }
}

/// A scenario's trace as `run --trace` takes it: a file relative to the
/// suite file (a shipped slice's name as it is), `requests` its first N.
fn scenario_trace(
    t: &crate::config::types::ScenarioTrace,
    file: &Path,
    s: &Scenario,
) -> stackbench_runner::trace::TraceSpec {
    let shipped = stackbench_runner::trace::embedded_names().contains(&t.source.as_str());
    let source = if shipped {
        std::path::PathBuf::from(&t.source)
    } else {
        file.parent().unwrap_or(Path::new(".")).join(&t.source)
    };
    stackbench_runner::trace::TraceSpec {
        source,
        format: t.format,
        shaping: stackbench_trace::shape::Shaping {
            window_s: t.window.map(|[a, b]| (a, b)),
            speed: t.speed.unwrap_or(1.0),
            scale: t.scale.unwrap_or(1.0),
            max_input: t.max_input,
            max_output: t.max_output,
            limit: s.requests,
        },
        max_concurrency: s.max_concurrency,
        no_tools: t.no_tools,
    }
}

/// The load of `scenario` on `stack`: [`scenario_settings`] with the
/// stack's own timeouts, which override the scenario's (a server that
/// queues needs them on every scenario it runs).
pub(crate) fn stack_scenario_settings(
    config: &SuiteConfig,
    file: &Path,
    stack: &StackConfig,
    scenario: &Scenario,
) -> RunSettings {
    let s = scenario_settings(config, file, scenario);
    with_timeouts(s, &stack.first_byte_timeout, &stack.request_timeout)
}

/// `s` with the timeouts given (absent ones left as they are).
fn with_timeouts(
    mut s: RunSettings,
    first_byte: &Option<DurationText>,
    request: &Option<DurationText>,
) -> RunSettings {
    if let Some(t) = first_byte {
        s.first_byte_timeout = t.get();
    }
    if let Some(t) = request {
        s.request_timeout = t.get();
    }
    s
}

/// Why the timeouts of `s` cannot go together in a suite: a wait for
/// headers, set by the config (`first_byte_set`), longer than the whole
/// request's, which ends it first (the longer wait would never be used):
/// a config that raised `first-byte-timeout` and forgot `request-timeout`
/// did not mean it. A short `request-timeout` alone is fine: it bounds the
/// default header wait too, as `run --request-timeout` does.
pub(crate) fn timeouts_mistake(s: &RunSettings, first_byte_set: bool) -> Option<String> {
    (first_byte_set && s.first_byte_timeout > s.request_timeout).then(|| {
        format!(
            "first-byte-timeout ({}) is longer than request-timeout ({}), which ends the \
             request first: set request-timeout to at least the first-byte wait plus the \
             longest answer's time",
            humantime::format_duration(s.first_byte_timeout),
            humantime::format_duration(s.request_timeout)
        )
    })
}

/// The key a mistake in `setting` of scenario `i`, `s`, is placed at:
/// `scenario[i].KEY`, or `defaults.KEY` when `s` inherits the value.
pub(crate) fn setting_key(s: &Scenario, i: usize, setting: Setting) -> String {
    let inherited = match setting {
        Setting::PromptTokens => s.prompt_tokens.is_none(),
        Setting::OutputTokens => s.output_tokens.is_none(),
        _ => false,
    };
    match setting.scenario_key() {
        Some(key) if inherited => format!("defaults.{key}"),
        Some(key) => format!("scenario[{i}].{key}"),
        None => format!("scenario[{i}]"),
    }
}

/// The seed of a scenario's dataset draw: FNV-1a of the suite and
/// scenario names, so every stack and repeat of the scenario, on any day,
/// sends the same entries (one workload by `core::workload`'s rule).
fn sample_seed(suite: &str, scenario: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in suite.bytes().chain([0]).chain(scenario.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}
