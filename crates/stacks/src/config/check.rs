//! The checks across keys that serde cannot make: a suite's repeat,
//! thresholds and scenarios (load keys, one of requests and duration,
//! unique names before and after level lists expand, and each level's load
//! by the runner's rules for it), and a stack's launch (an image, a
//! program, a known profile, a port or base URL). Each error is placed
//! where the key is written.

use std::path::Path;

use stackbench_core::stack::{KnownAnswer, StackConfig};

use stackbench_runner::Naming;

use crate::config::diagnostics::invalid_at;
use crate::config::settings::{
    scenario_settings, setting_key, stack_scenario_settings, timeouts_mistake,
};
use crate::config::types::{OneOrMany, Scenario, SuiteConfig};
use crate::error::ConfigError;

/// Why `parallel = true` and `[box]` hygiene cannot go together.
const PARALLEL_HYGIENE: &str = "`parallel = true` cannot go with [box] hygiene \
(`settle-memory`, `drop-page-cache`, `cooldown`, `before-launch`): the hygiene \
makes each stack meet the box as the first one did, but stacks launched at once \
share it, so the second would wait for memory the first holds until \
`settle-timeout`, and a page-cache drop or hook would hit a stack mid-run; \
drop `parallel` (stacks on one box run one after another) or the [box] hygiene \
keys (stacks on separate machines)";

/// Checks `config` (read from `text`, the contents of `file`) and returns
/// it with level lists expanded into one scenario per level.
pub(crate) fn check_suite(
    file: &Path,
    text: &str,
    mut config: SuiteConfig,
) -> Result<SuiteConfig, ConfigError> {
    let invalid = |key: &str, message: String| invalid_at(file, text, key, message);
    if config.repeat == 0 {
        return Err(invalid("repeat", "must be at least 1".into()));
    }
    if let Some((k, v)) = config
        .compare
        .iter()
        .find(|(_, v)| !v.is_finite() || **v < 0.0)
    {
        return Err(invalid(
            &format!("compare.{k}"),
            format!("a threshold is a percentage >= 0, not {v}"),
        ));
    }
    if config.parallel && config.box_facts.hygiene() {
        return Err(invalid("parallel", PARALLEL_HYGIENE.into()));
    }
    if config.scenarios.is_empty() {
        return Err(invalid(
            "scenario",
            "a suite needs at least one [[scenario]]".into(),
        ));
    }
    for (i, s) in config.scenarios.iter().enumerate() {
        check_scenario(&config.scenarios[..i], i, s).map_err(|(key, m)| invalid(&key, m))?;
        check_settings(&config, file, i, s).map_err(|(key, m)| invalid(&key, m))?;
    }
    config.scenarios = expand_levels(&config.scenarios);
    if let Some(name) = duplicate_name(&config.scenarios) {
        return Err(invalid(
            "scenario",
            format!("two scenarios are named '{name}' once lists are expanded"),
        ));
    }
    Ok(config)
}

/// Checks scenario `i`, `s`, after `earlier`: `(key, message)` of the
/// first mistake.
fn check_scenario(earlier: &[Scenario], i: usize, s: &Scenario) -> Result<(), (String, String)> {
    let key = format!("scenario[{i}]");
    if let Err((field, message)) = check_load(s) {
        return Err((format!("{key}.{field}"), message));
    }
    match (s.requests, &s.duration) {
        (Some(_), Some(_)) | (None, None) => {
            return Err((
                key,
                format!(
                    "scenario '{}': give exactly one of requests and duration",
                    s.name
                ),
            ))
        }
        _ => {}
    }
    if earlier.iter().any(|o| o.name == s.name) {
        return Err((
            format!("{key}.name"),
            format!("scenario name '{}' is used twice", s.name),
        ));
    }
    Ok(())
}

/// Checks a scenario's load keys: `(key, message)` of the first mistake.
fn check_load(s: &Scenario) -> Result<(), (&'static str, String)> {
    match (&s.concurrency, &s.request_rate) {
        (Some(_), Some(_)) => {
            return Err((
                "request-rate",
                format!(
                    "scenario '{}': give concurrency or request-rate, not both",
                    s.name
                ),
            ))
        }
        (None, None) => {
            return Err((
                "concurrency",
                format!("scenario '{}': give concurrency or request-rate", s.name),
            ))
        }
        (Some(c), None) => {
            if c.values().is_empty() {
                return Err(("concurrency", "give at least one level".into()));
            }
            if s.arrival.is_some() || (s.max_concurrency.is_some() && s.trace.is_none()) {
                return Err((
                    "arrival",
                    "arrival goes with request-rate, max-concurrency with request-rate or trace"
                        .into(),
                ));
            }
        }
        (None, Some(r)) => {
            if r.values().is_empty() {
                return Err(("request-rate", "give at least one rate".into()));
            }
        }
    }
    Ok(())
}

/// Checks the load of each level of scenario `i`, `s`, of `config` (read
/// from `file`) by the rules a run's flags go through: `(key, message)`
/// of the first mistake.
fn check_settings(
    config: &SuiteConfig,
    file: &Path,
    i: usize,
    s: &Scenario,
) -> Result<(), (String, String)> {
    for level in expand_levels(std::slice::from_ref(s)) {
        let settings = scenario_settings(config, file, &level);
        settings
            .validate(Naming::ScenarioKey)
            .map_err(|e| (setting_key(s, i, e.setting), e.message))?;
        if let Some(m) = timeouts_mistake(&settings, s.first_byte_timeout.is_some()) {
            return Err((format!("scenario[{i}].first-byte-timeout"), m));
        }
    }
    Ok(())
}

/// Checks the timeouts of `stack` (read from `text`, the contents of
/// `file`) against each scenario of `config`, whose own it overrides.
pub(crate) fn check_stack_timeouts(
    config: &SuiteConfig,
    suite_file: &Path,
    file: &Path,
    text: &str,
    stack: &StackConfig,
) -> Result<(), ConfigError> {
    if stack.first_byte_timeout.is_none() && stack.request_timeout.is_none() {
        return Ok(());
    }
    for s in &config.scenarios {
        let settings = stack_scenario_settings(config, suite_file, stack, s);
        let set = stack.first_byte_timeout.is_some() || s.first_byte_timeout.is_some();
        if let Some(m) = timeouts_mistake(&settings, set) {
            let key = match stack.first_byte_timeout {
                Some(_) => "first-byte-timeout",
                None => "request-timeout",
            };
            return Err(invalid_at(
                file,
                text,
                key,
                format!("with scenario {}: {m}", s.name),
            ));
        }
    }
    Ok(())
}

/// One scenario per depth: a list becomes `<name>-d<D>`.
fn expand_depths(scenarios: &[Scenario]) -> Vec<Scenario> {
    let mut out = Vec::new();
    for s in scenarios {
        match &s.depth {
            Some(OneOrMany::Many(depths)) => {
                out.extend(depths.iter().map(|&d| Scenario {
                    name: format!("{}-d{d}", s.name),
                    depth: Some(OneOrMany::One(d)),
                    ..s.clone()
                }));
            }
            _ => out.push(s.clone()),
        }
    }
    out
}

/// One scenario per depth and level: lists become `<name>-d<D>`, then
/// `<name>[-d<D>]-c<N>` / `-r<R>`.
fn expand_levels(scenarios: &[Scenario]) -> Vec<Scenario> {
    let mut out = Vec::new();
    for s in &expand_depths(scenarios) {
        match (&s.concurrency, &s.request_rate) {
            (Some(OneOrMany::Many(levels)), _) => {
                out.extend(levels.iter().map(|&c| Scenario {
                    name: format!("{}-c{c}", s.name),
                    concurrency: Some(OneOrMany::One(c)),
                    ..s.clone()
                }));
            }
            (_, Some(OneOrMany::Many(rates))) => {
                out.extend(rates.iter().map(|&r| Scenario {
                    name: format!("{}-r{r}", s.name),
                    request_rate: Some(OneOrMany::One(r)),
                    ..s.clone()
                }));
            }
            _ => out.push(s.clone()),
        }
    }
    out
}

fn duplicate_name(scenarios: &[Scenario]) -> Option<&str> {
    scenarios.iter().enumerate().find_map(|(i, s)| {
        scenarios[..i]
            .iter()
            .any(|o| o.name == s.name)
            .then_some(s.name.as_str())
    })
}

/// Checks across keys that serde cannot.
pub(crate) fn check_stack(file: &Path, text: &str, s: &StackConfig) -> Result<(), ConfigError> {
    use stackbench_core::stack::Launch;
    let invalid = |key: &str, message: String| invalid_at(file, text, key, message);
    if s.name.trim().is_empty() {
        return Err(invalid("name", "must not be empty".into()));
    }
    let port = match &s.launch {
        Some(Launch::Container(c)) => {
            if c.image.trim().is_empty() {
                return Err(invalid(
                    "launch.container.image",
                    "must not be empty".into(),
                ));
            }
            for p in &c.ports {
                if crate::container::host_port(p).is_none() {
                    return Err(invalid(
                        "launch.container.ports",
                        format!("'{p}' is not HOST:CONTAINER (e.g. 8000:8000)"),
                    ));
                }
            }
            c.ports.first().and_then(|p| crate::container::host_port(p))
        }
        Some(Launch::Process(p)) => {
            if p.command.is_empty() {
                return Err(invalid(
                    "launch.process.command",
                    "must name a program".into(),
                ));
            }
            p.port
        }
        Some(Launch::Simulator(sim)) => {
            if stackbench_sim::Profile::load(&sim.profile).is_err() {
                return Err(invalid(
                    "launch.simulator.profile",
                    format!("unknown profile '{}'", sim.profile),
                ));
            }
            Some(0)
        }
        None => None,
    };
    if s.base_url.is_none() && port.is_none() {
        return Err(invalid(
            "base-url",
            "give base-url, or a launch that publishes a port (container ports, process port)"
                .into(),
        ));
    }
    check_stack_keys(s).map_err(|(key, m)| invalid(key, m))
}

/// The checks of `s`'s keys besides its launch: `(key, message)` of the
/// first mistake.
fn check_stack_keys(s: &StackConfig) -> Result<(), (&'static str, String)> {
    if let Some(name) = s.secret_env.iter().find(|n| !crate::secret::is_env_name(n)) {
        let m = format!("'{name}' is not an environment variable name (letters, digits and _)");
        return Err(("secret-env", m));
    }
    if !s.fetch_expects.is_empty() && s.fetch.is_empty() {
        let m = "names what `fetch` must make present: give `fetch` too";
        return Err(("fetch-expects", m.into()));
    }
    if let Some(n) = s.memory_need_gib.filter(|n| !(n.is_finite() && *n > 0.0)) {
        return Err((
            "memory-need-gib",
            format!("must be a positive number of GiB, not {n}"),
        ));
    }
    if let Some(k) = &s.known_answer {
        check_known_answer(k)?;
    }
    match &s.reference {
        Some(r) if r.single_user_tok_s.is_none() && r.total_tok_s.is_none() => {
            Err(("reference", "give single-user-tok-s or total-tok-s".into()))
        }
        _ => Ok(()),
    }
}

/// Checks `[known-answer]`: exactly one of `expect` (not empty) and
/// `expect-pattern` (a valid regular expression); `(key, message)` of the
/// mistake.
fn check_known_answer(k: &KnownAnswer) -> Result<(), (&'static str, String)> {
    match (&k.expect, &k.expect_pattern) {
        (Some(_), Some(_)) => Err((
            "known-answer.expect-pattern",
            "give expect or expect-pattern, not both".into(),
        )),
        (None, None) => Err((
            "known-answer",
            "give expect (a word or number the answer must hold whole) or expect-pattern (a regular expression it must match)".into(),
        )),
        (Some(word), None) if word.trim().is_empty() => {
            Err(("known-answer.expect", "must not be empty".into()))
        }
        (None, Some(pattern)) => regex::Regex::new(pattern).map(drop).map_err(|e| {
            (
                "known-answer.expect-pattern",
                format!("not a valid regular expression: {e}"),
            )
        }),
        (Some(_), None) => Ok(()),
    }
}
