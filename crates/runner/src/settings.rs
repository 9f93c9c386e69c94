//! [`RunSettings`]: what a front end chooses about a run's load, and the
//! one place those choices are checked. `stackbench run` fills it from its
//! flags, a suite from a scenario merged with the suite's defaults; both
//! turn it into a [`RunConfig`] through [`RunSettings::into_run_config`],
//! so a rule (at most 100 turns, turns only in the closed loop, an
//! open-loop schedule that offers a request) is written once and a
//! scenario cannot pass what a flag would not.
//!
//! A mistake is a [`SettingError`] that says which [`Setting`] it is
//! about; the message names settings the way the front end's user wrote
//! them ([`Naming`]): `--turns` on the command line, `turns` in a suite
//! file, where the loader puts the message after `scenario[i].turns:`.

use std::time::Duration;

use stackbench_core::histogram::MAX_TURNS;
use stackbench_core::kinds::Thinking;
use stackbench_core::slo::Slo;
use stackbench_engine::{Bound, OpenLoopPlan, Schedule};

use crate::config::RunConfig;
use crate::dataset::DatasetSpec;
use crate::error::RunnerError;

/// The load of one run: how hard, how long, what is sent, how long the
/// client waits. [`Default`] gives `stackbench run`'s defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSettings {
    /// Closed-loop workers (and warm-up workers of an open-loop run).
    pub concurrency: u32,
    /// Send requests at a rate instead (open loop).
    pub open_loop: Option<OpenLoopPlan>,
    /// When the measured phase ends.
    pub bound: Bound,
    /// Requests sent first and excluded from every statistic; with
    /// `warmup_auto`, the most that may be sent.
    pub warmup_requests: u64,
    /// Warm up until consecutive decode rates agree (`--warmup-requests
    /// auto`) instead of a fixed count.
    pub warmup_auto: Option<stackbench_core::hygiene::AutoWarmup>,
    /// Empty the server's prompt cache before the warm-up.
    pub reset_cache: bool,
    /// Prompt length, tokens as the server counts them.
    pub prompt_tokens: u32,
    /// `max_tokens` per request.
    pub output_tokens: u32,
    /// Leading prompt tokens (after the instruction) every request shares.
    pub shared_prefix_tokens: u32,
    /// Send requests from this dataset instead of generated prompts.
    pub dataset: Option<DatasetSpec>,
    /// Replay this trace as the measured phase (`--trace`).
    pub trace: Option<crate::trace::TraceSpec>,
    /// Judge requests against these limits (goodput).
    pub slo: Option<Slo>,
    /// Ask the model to think, or not (`default`: send nothing).
    pub thinking: Thinking,
    /// Reasoning tokens allowed per request.
    pub thinking_budget: Option<u32>,
    /// Turns per conversation (1: every request on its own).
    pub turns: u32,
    /// Pause between a conversation's turns.
    pub think_time: Duration,
    /// Keep requests off the prompt cache.
    pub cache_salt: bool,
    /// Context tokens before each request's own prompt (`--depth`; 0:
    /// none).
    pub depth: u32,
    /// At a depth: each user's context sent once and then taken from the
    /// cache (`true`), or every request's its own (`--depth-cache off`).
    pub depth_cache: bool,
    /// Sampling temperature.
    pub temperature: f64,
    /// End the run early once more than this % of requests failed.
    pub max_error_pct: Option<f64>,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// Longest wait for a response's headers.
    pub first_byte_timeout: Duration,
    /// Longest gap between two reads of a response body.
    pub idle_timeout: Duration,
}

impl Default for RunSettings {
    fn default() -> Self {
        Self {
            concurrency: 1,
            open_loop: None,
            bound: Bound::Requests(10),
            warmup_requests: 1,
            warmup_auto: None,
            reset_cache: false,
            prompt_tokens: 128,
            output_tokens: 128,
            shared_prefix_tokens: 0,
            dataset: None,
            trace: None,
            slo: None,
            thinking: Thinking::default(),
            thinking_budget: None,
            turns: 1,
            think_time: Duration::ZERO,
            cache_salt: false,
            depth: 0,
            depth_cache: true,
            temperature: 0.0,
            max_error_pct: None,
            request_timeout: Duration::from_secs(600),
            first_byte_timeout: Duration::from_secs(300),
            idle_timeout: Duration::from_secs(300),
        }
    }
}

/// A setting a rule can refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// Closed-loop workers.
    Concurrency,
    /// The open-loop rate (and the schedule it makes with the bound).
    RequestRate,
    /// The open-loop cap on requests in flight.
    MaxConcurrency,
    /// A count bound.
    Requests,
    /// A time bound.
    Duration,
    /// Prompt length.
    PromptTokens,
    /// Output length.
    OutputTokens,
    /// Turns per conversation.
    Turns,
    /// Pause between turns.
    ThinkTime,
    /// Sampling temperature.
    Temperature,
    /// The error share that ends a run early.
    MaxErrorRate,
    /// The per-request timeout.
    RequestTimeout,
    /// The wait for a response's headers.
    FirstByteTimeout,
    /// The longest gap in a response body.
    IdleTimeout,
    /// The context depth.
    Depth,
    /// `--warmup-requests auto`'s tolerance.
    WarmupTolerance,
    /// `--warmup-requests auto`'s cap.
    WarmupMax,
    /// The trace replayed.
    Trace,
}

/// How a front end's user wrote the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// `stackbench run`'s flags: messages stand alone and name the flag.
    Flag,
    /// A suite scenario's keys: messages follow the key they are about.
    ScenarioKey,
}

impl Setting {
    /// The `stackbench run` flag.
    pub fn flag(self) -> &'static str {
        match self {
            Self::Concurrency => "--concurrency",
            Self::RequestRate => "--request-rate",
            Self::MaxConcurrency => "--max-concurrency",
            Self::Requests => "--num-requests",
            Self::Duration => "--duration",
            Self::PromptTokens => "--prompt-tokens",
            Self::OutputTokens => "--output-tokens",
            Self::Turns => "--turns",
            Self::ThinkTime => "--think-time",
            Self::Temperature => "--temperature",
            Self::MaxErrorRate => "--max-error-rate",
            Self::RequestTimeout => "--request-timeout",
            Self::FirstByteTimeout => "--first-byte-timeout",
            Self::IdleTimeout => "--idle-timeout",
            Self::Depth => "--depth",
            Self::WarmupTolerance => "--warmup-tolerance",
            Self::WarmupMax => "--warmup-max",
            Self::Trace => "--trace",
        }
    }

    /// The key of a suite's `[[scenario]]`; `None` for what a scenario
    /// cannot set.
    pub fn scenario_key(self) -> Option<&'static str> {
        Some(match self {
            Self::Concurrency => "concurrency",
            Self::RequestRate => "request-rate",
            Self::MaxConcurrency => "max-concurrency",
            Self::Requests => "requests",
            Self::Duration => "duration",
            Self::PromptTokens => "prompt-tokens",
            Self::OutputTokens => "output-tokens",
            Self::Turns => "turns",
            Self::ThinkTime => "think-time",
            Self::RequestTimeout => "request-timeout",
            Self::FirstByteTimeout => "first-byte-timeout",
            Self::Depth => "depth",
            Self::Trace => "trace",
            _ => return None,
        })
    }

    /// Its name in `naming`.
    fn name(self, naming: Naming) -> &'static str {
        match naming {
            Naming::Flag => self.flag(),
            Naming::ScenarioKey => self.scenario_key().unwrap_or(self.flag()),
        }
    }

    /// What a message about it starts with: the flag and `sep` on the
    /// command line; nothing after a scenario key, which precedes it.
    fn lead(self, naming: Naming, sep: &str) -> String {
        match naming {
            Naming::Flag => format!("{}{sep}", self.flag()),
            Naming::ScenarioKey => String::new(),
        }
    }
}

/// A setting no run could make sense of.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct SettingError {
    /// The setting refused.
    pub setting: Setting,
    /// Why, in the front end's [`Naming`].
    pub message: String,
}

/// Refuses `setting` with `message`.
fn refuse(setting: Setting, message: String) -> Result<(), SettingError> {
    Err(SettingError { setting, message })
}

impl RunSettings {
    /// The settings `c` holds.
    pub fn of(c: &RunConfig) -> Self {
        Self {
            concurrency: c.concurrency,
            open_loop: c.open_loop,
            bound: c.bound,
            warmup_requests: c.warmup_requests,
            warmup_auto: c.warmup_auto,
            reset_cache: c.reset_cache,
            prompt_tokens: c.prompt_tokens,
            output_tokens: c.output_tokens,
            shared_prefix_tokens: c.shared_prefix_tokens,
            dataset: c.dataset.clone(),
            trace: c.trace.clone(),
            slo: c.slo,
            thinking: c.thinking,
            thinking_budget: c.thinking_budget,
            turns: c.turns,
            think_time: c.think_time,
            cache_salt: c.cache_salt,
            depth: c.depth,
            depth_cache: c.depth_cache,
            temperature: c.temperature,
            max_error_pct: c.max_error_pct,
            request_timeout: c.request_timeout,
            first_byte_timeout: c.first_byte_timeout,
            idle_timeout: c.idle_timeout,
        }
    }

    /// `base` (where to send: URL, model, API, labels, context) with these
    /// settings, checked with the rest of the run configuration: the one
    /// way a front end makes a [`RunConfig`].
    pub fn into_run_config(
        self,
        base: RunConfig,
        naming: Naming,
    ) -> Result<RunConfig, RunnerError> {
        let c = self.apply(base);
        c.validate_as(naming)?;
        Ok(c)
    }

    /// `c` with these settings, unchecked.
    fn apply(self, mut c: RunConfig) -> RunConfig {
        c.concurrency = self.concurrency;
        c.open_loop = self.open_loop;
        c.bound = self.bound;
        c.warmup_requests = self
            .warmup_auto
            .map_or(self.warmup_requests, |a| a.max_requests);
        c.warmup_auto = self.warmup_auto;
        c.reset_cache = self.reset_cache;
        c.prompt_tokens = self.prompt_tokens;
        c.output_tokens = self.output_tokens;
        c.shared_prefix_tokens = self.shared_prefix_tokens;
        c.dataset = self.dataset;
        c.trace = self.trace;
        c.slo = self.slo;
        c.thinking = self.thinking;
        c.thinking_budget = self.thinking_budget;
        c.turns = self.turns;
        c.think_time = self.think_time;
        // An uncached depth keeps its requests off the cache with the
        // same per-server switches as --cache-salt.
        c.cache_salt = self.cache_salt || (self.depth > 0 && !self.depth_cache);
        c.depth = self.depth;
        c.depth_cache = self.depth_cache;
        c.temperature = self.temperature;
        c.max_error_pct = self.max_error_pct;
        c.request_timeout = self.request_timeout;
        c.first_byte_timeout = self.first_byte_timeout;
        c.idle_timeout = self.idle_timeout;
        c
    }

    /// Checks the values no server could make sense of; the first mistake
    /// is named as `naming` says.
    pub fn validate(&self, naming: Naming) -> Result<(), SettingError> {
        self.check_open_loop(naming)?;
        self.check_lengths(naming)?;
        self.check_conversation(naming)?;
        self.check_depth(naming)?;
        self.check_trace(naming)?;
        self.check_client(naming)
    }

    /// A trace is the whole workload and its own schedule: nothing else
    /// may say what is sent or when.
    fn check_trace(&self, naming: Naming) -> Result<(), SettingError> {
        if self.trace.is_none() {
            return Ok(());
        }
        let s = Setting::Trace;
        let clash = if self.dataset.is_some() {
            Some("and a dataset both say what is sent: give one".to_string())
        } else if self.turns > 1 {
            Some(format!(
                "brings its own sessions: {} does not apply",
                Setting::Turns.name(naming)
            ))
        } else if self.depth > 0 {
            Some(format!(
                "and {} both say what each prompt is: give one",
                Setting::Depth.name(naming)
            ))
        } else if self.shared_prefix_tokens > 0 {
            Some(
                "brings its own shared prefixes (its blocks): a shared prefix does not apply"
                    .into(),
            )
        } else if self.open_loop.is_some() {
            Some(format!(
                "brings its own arrival times: {} does not apply (--speed scales them)",
                Setting::RequestRate.name(naming)
            ))
        } else {
            None
        };
        match clash {
            Some(why) => refuse(s, format!("{}{why}", s.lead(naming, " "))),
            None => Ok(()),
        }
    }

    /// A depth goes with generated single prompts, and a cached one with
    /// users whose cache it is.
    fn check_depth(&self, naming: Naming) -> Result<(), SettingError> {
        if self.depth == 0 {
            return Ok(());
        }
        let s = Setting::Depth;
        let lead = s.lead(naming, " ");
        let clash = if self.dataset.is_some() {
            Some("works with generated prompts, not a dataset's".to_string())
        } else if self.turns > 1 {
            Some(format!(
                "and {} > 1 both make the context: give one",
                Setting::Turns.name(naming)
            ))
        } else if self.shared_prefix_tokens > 0 {
            Some("and a shared prefix both put tokens before the prompt: give one".into())
        } else if self.depth_cache && self.open_loop.is_some() {
            Some(format!(
                "with its cache on needs users ({}), each with its context: an open-loop run \
                 ({}) has none; turn the depth cache off for one",
                Setting::Concurrency.name(naming),
                Setting::RequestRate.name(naming)
            ))
        } else if self.depth_cache && self.cache_salt {
            Some(
                "with its cache on is meant to be cached: a cache salt would keep it off; \
                  turn the depth cache off instead"
                    .into(),
            )
        } else {
            None
        };
        match clash {
            Some(why) => refuse(s, format!("{lead}{why}")),
            None => Ok(()),
        }
    }

    /// The open-loop rate, cap and schedule, then the workers and bound.
    fn check_open_loop(&self, naming: Naming) -> Result<(), SettingError> {
        if let Some(o) = &self.open_loop {
            let rate = Setting::RequestRate;
            if !(o.rate.is_finite() && o.rate > 0.0) {
                let lead = rate.lead(naming, " ");
                let m = format!(
                    "{lead}must be a positive number of requests per second, got {}",
                    o.rate
                );
                return refuse(rate, m);
            }
            if o.max_concurrency == Some(0) {
                let lead = Setting::MaxConcurrency.lead(naming, " ");
                return refuse(Setting::MaxConcurrency, format!("{lead}must be at least 1"));
            }
        }
        let at_least_one =
            |s: Setting| refuse(s, format!("{}must be at least 1", s.lead(naming, " ")));
        if self.concurrency == 0 {
            return at_least_one(Setting::Concurrency);
        }
        match self.bound {
            Bound::Requests(0) => return at_least_one(Setting::Requests),
            Bound::Duration(d) if d.is_zero() => {
                let lead = Setting::Duration.lead(naming, " ");
                return refuse(
                    Setting::Duration,
                    format!("{lead}must be greater than zero"),
                );
            }
            _ => {}
        }
        if let Some(o) = &self.open_loop {
            if let Err(e) = Schedule::new(o, self.bound, 0) {
                let lead = Setting::RequestRate.lead(naming, ": ");
                return refuse(Setting::RequestRate, format!("{lead}{e}"));
            }
        }
        Ok(())
    }

    /// Prompt and output lengths.
    fn check_lengths(&self, naming: Naming) -> Result<(), SettingError> {
        if self.output_tokens < 2 {
            let s = Setting::OutputTokens;
            let lead = s.lead(naming, " ");
            return refuse(
                s,
                format!("{lead}must be at least 2 (decode rates need two tokens)"),
            );
        }
        if self.prompt_tokens == 0 {
            let s = Setting::PromptTokens;
            return refuse(s, format!("{}must be at least 1", s.lead(naming, " ")));
        }
        Ok(())
    }

    /// Turns and the think time between them.
    fn check_conversation(&self, naming: Naming) -> Result<(), SettingError> {
        let turns = Setting::Turns;
        let lead = turns.lead(naming, " ");
        if self.turns == 0 {
            return refuse(turns, format!("{lead}must be at least 1"));
        }
        if self.turns > MAX_TURNS {
            let m = format!(
                "{lead}{} is more than {MAX_TURNS}: each turn keeps its own latency figures",
                self.turns
            );
            return refuse(turns, m);
        }
        if self.turns > 1 && self.open_loop.is_some() {
            let m = format!(
                "{lead}needs the closed loop ({}): each worker holds one conversation; \
                 an open-loop ({}) run sends independent requests",
                Setting::Concurrency.name(naming),
                Setting::RequestRate.name(naming),
            );
            return refuse(turns, m);
        }
        if !self.think_time.is_zero() && self.turns < 2 {
            let s = Setting::ThinkTime;
            let m = format!(
                "{}is the pause between turns: it needs {} 2 or more",
                s.lead(naming, " "),
                turns.name(naming)
            );
            return refuse(s, m);
        }
        Ok(())
    }

    /// Temperature, the error share that ends a run, the timeouts.
    fn check_warmup(&self, naming: Naming) -> Result<(), SettingError> {
        let Some(rule) = self.warmup_auto else {
            return Ok(());
        };
        if !(rule.tolerance_pct.is_finite() && rule.tolerance_pct > 0.0) {
            let s = Setting::WarmupTolerance;
            return refuse(
                s,
                format!("{}must be a percentage > 0", s.lead(naming, " ")),
            );
        }
        if rule.max_requests < u64::from(rule.consecutive) {
            let s = Setting::WarmupMax;
            let m = format!(
                "{}must be at least {} (the consecutive requests that must agree)",
                s.lead(naming, " "),
                rule.consecutive
            );
            return refuse(s, m);
        }
        Ok(())
    }

    fn check_client(&self, naming: Naming) -> Result<(), SettingError> {
        self.check_warmup(naming)?;
        if !self.temperature.is_finite() || self.temperature < 0.0 {
            let s = Setting::Temperature;
            return refuse(s, format!("{}must be a number >= 0", s.lead(naming, " ")));
        }
        if self
            .max_error_pct
            .is_some_and(|p| !(p.is_finite() && (0.0..=100.0).contains(&p)))
        {
            let s = Setting::MaxErrorRate;
            let m = format!("{}is a percentage between 0 and 100", s.lead(naming, " "));
            return refuse(s, m);
        }
        for (s, t) in [
            (Setting::RequestTimeout, self.request_timeout),
            (Setting::FirstByteTimeout, self.first_byte_timeout),
            (Setting::IdleTimeout, self.idle_timeout),
        ] {
            if t.is_zero() {
                return refuse(
                    s,
                    format!("{}must be greater than zero", s.lead(naming, " ")),
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn refused(s: &RunSettings, naming: Naming) -> SettingError {
        s.validate(naming).unwrap_err()
    }

    #[test]
    fn a_mistake_names_the_flag_or_follows_the_scenario_key() {
        let s = RunSettings {
            turns: 101,
            ..Default::default()
        };
        let flag = refused(&s, Naming::Flag);
        assert_eq!(flag.setting, Setting::Turns);
        assert_eq!(
            flag.message,
            "--turns 101 is more than 100: each turn keeps its own latency figures"
        );
        let key = refused(&s, Naming::ScenarioKey);
        assert_eq!(key.setting, Setting::Turns);
        assert_eq!(
            key.message,
            "101 is more than 100: each turn keeps its own latency figures"
        );
    }

    #[test]
    fn the_rules_across_settings_refuse_the_setting_that_breaks_them() {
        let open = Some(OpenLoopPlan {
            rate: 0.01,
            arrival: stackbench_core::open_loop::Arrival::Poisson,
            max_concurrency: None,
        });
        let cases = [
            (
                RunSettings {
                    turns: 2,
                    open_loop: open.map(|o| OpenLoopPlan { rate: 4.0, ..o }),
                    ..Default::default()
                },
                Setting::Turns,
                "needs the closed loop (concurrency)",
            ),
            (
                RunSettings {
                    think_time: Duration::from_secs(1),
                    ..Default::default()
                },
                Setting::ThinkTime,
                "it needs turns 2 or more",
            ),
            (
                RunSettings {
                    open_loop: open,
                    bound: Bound::Duration(Duration::from_secs(10)),
                    ..Default::default()
                },
                Setting::RequestRate,
                "offers no request",
            ),
            (
                RunSettings {
                    open_loop: open.map(|o| OpenLoopPlan {
                        max_concurrency: Some(0),
                        ..o
                    }),
                    concurrency: 0,
                    ..Default::default()
                },
                Setting::MaxConcurrency,
                "must be at least 1",
            ),
            (
                RunSettings {
                    idle_timeout: Duration::ZERO,
                    ..Default::default()
                },
                Setting::IdleTimeout,
                "must be greater than zero",
            ),
        ];
        for (s, setting, words) in cases {
            let e = refused(&s, Naming::ScenarioKey);
            assert_eq!(e.setting, setting, "{e}");
            assert!(e.message.contains(words), "{e}");
        }
        RunSettings::default().validate(Naming::Flag).unwrap();
    }

    #[test]
    fn a_run_config_holds_the_settings_it_was_made_with() {
        let s = RunSettings {
            concurrency: 4,
            turns: 3,
            think_time: Duration::from_millis(250),
            cache_salt: true,
            ..Default::default()
        };
        let c = s
            .clone()
            .into_run_config(RunConfig::new("http://x"), Naming::Flag)
            .unwrap();
        assert_eq!(RunSettings::of(&c), s);
        assert_eq!(
            RunSettings::of(&RunConfig::new("http://x")),
            RunSettings::default()
        );
    }
}
