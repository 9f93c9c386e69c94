//! Each workload key, one at a time: changing exactly its field in a
//! `run.json` is found and named by that key alone.

use super::*;
use crate::open_loop::Arrival;
use crate::run_file::DatasetInfo;
use crate::slo::Slo;

/// The committed fixture, with every optional setting present so each
/// can be changed on its own: an open-loop rate, a dataset with every
/// selection filter, an SLO, a cached depth.
fn base() -> RunFile {
    let mut r: RunFile =
        serde_json::from_str(include_str!("../../report/tests/fixtures/run-v2-sim.json"))
            .unwrap_or_else(|e| panic!("fixture: {e}"));
    r.load.request_rate = Some(2.5);
    r.load.arrival = Some(Arrival::Poisson);
    r.load.slo = Some(Slo {
        ttft_ms: Some(500.0),
        ..Slo::default()
    });
    r.load.trace = Some(crate::replay::TraceLoad {
        format: "mooncake".into(),
        source: "embedded:mooncake".into(),
        sha256: "cd".repeat(32),
        file_entries: 200,
        entries: 60,
        window_s: None,
        speed: 20.0,
        scale: 0.0625,
        max_input: Some(1024),
        max_output: None,
        inputs_capped: 3,
        outputs_capped: 0,
        links_cut: 0,
        block_tokens: Some(32),
        span_s: 3.6,
        no_tools: false,
    });
    r.load.dataset = Some(DatasetInfo {
        path: "datasets/sharegpt.json".into(),
        sha256: "ab".repeat(32),
        sample: Some(100),
        min_prompt_tokens: Some(4),
        max_prompt_tokens: Some(1024),
        max_output_tokens: Some(512),
        ..DatasetInfo::default()
    });
    r.load.depth = Some(crate::depth::DepthLoad {
        tokens: 4096,
        cached: true,
        server_context: Some(8192),
        context_from: Some("llama-server /props: n_ctx per slot".into()),
    });
    r
}

/// Changes exactly the field `key` reads. The match has no wildcard: a
/// key added to [`WorkloadKey`] does not compile here until it is given a
/// change, and the test below then checks its reader sees it.
fn change(key: WorkloadKey, r: &mut RunFile) {
    let l = &mut r.load;
    let d = l.dataset.as_mut();
    match key {
        WorkloadKey::Concurrency => l.concurrency += 1,
        WorkloadKey::RequestRate => l.request_rate = Some(5.0),
        WorkloadKey::Arrival => l.arrival = Some(Arrival::Constant),
        WorkloadKey::PromptTokens => l.prompt_tokens += 1,
        WorkloadKey::OutputTokens => l.output_tokens += 1,
        WorkloadKey::SharedPrefixTokens => l.shared_prefix_tokens += 1,
        WorkloadKey::Api => r.target.api = crate::Recorded::Known(crate::Api::Completions),
        WorkloadKey::Model => r.target.model += "-other",
        WorkloadKey::Quantization => r.target.quantization = Some("FP8".into()),
        WorkloadKey::IgnoreEos => l.ignore_eos = !l.ignore_eos,
        WorkloadKey::ExcludeShort => l.exclude_short = !l.exclude_short,
        WorkloadKey::Temperature => l.temperature += 0.7,
        WorkloadKey::Dataset => {
            if let Some(d) = d {
                d.sha256 = "cd".repeat(32);
            }
        }
        WorkloadKey::DatasetSample => {
            if let Some(d) = d {
                d.sample = None;
            }
        }
        WorkloadKey::DatasetMinPromptTokens => {
            if let Some(d) = d {
                d.min_prompt_tokens = Some(8);
            }
        }
        WorkloadKey::DatasetMaxPromptTokens => {
            if let Some(d) = d {
                d.max_prompt_tokens = None;
            }
        }
        WorkloadKey::DatasetMaxOutputTokens => {
            if let Some(d) = d {
                d.max_output_tokens = Some(256);
            }
        }
        WorkloadKey::Slo => l.slo = None,
        WorkloadKey::Thinking => l.thinking = crate::kinds::Thinking::Off,
        WorkloadKey::ThinkingBudget => l.thinking_budget = Some(6),
        WorkloadKey::Turns => l.turns = 4,
        WorkloadKey::ThinkTime => l.think_time_s = 1.5,
        WorkloadKey::CacheSalt => l.cache_salt = Some("run-7".into()),
        WorkloadKey::Depth => {
            if let Some(d) = l.depth.as_mut() {
                d.tokens = 16_384;
            }
        }
        WorkloadKey::DepthCache => {
            if let Some(d) = l.depth.as_mut() {
                d.cached = false;
            }
        }
        WorkloadKey::Trace => {
            if let Some(t) = l.trace.as_mut() {
                t.speed = 4.0;
            }
        }
    }
}

#[test]
fn each_key_finds_a_change_of_its_own_field_and_nothing_else() {
    let a = base();
    assert_eq!(differences(&a, &a.clone(), &WorkloadKey::ALL), []);
    for key in WorkloadKey::ALL {
        let mut b = a.clone();
        change(key, &mut b);
        assert_ne!(a, b, "{key}: the change changed nothing");
        let d = differences(&a, &b, &WorkloadKey::ALL);
        let keys: Vec<WorkloadKey> = d.iter().map(|d| d.key).collect();
        assert_eq!(keys, [key], "changing {} ({})", key, key.field());
        let text = d[0].to_string();
        assert!(text.starts_with(&format!("{} ", key.name())), "{text}");
        // A run written to disk and read back reads the same.
        let back = RunFile::from_json(&serde_json::to_vec(&b).unwrap_or_default())
            .unwrap_or_else(|e| panic!("{key}: {e}"));
        assert_eq!(differences(&b, &back, &WorkloadKey::ALL), [], "{key}");
    }
}

#[test]
fn names_are_unique_snake_case_and_the_sets_are_subsets() {
    let mut names: Vec<&str> = WorkloadKey::ALL.iter().map(|k| k.name()).collect();
    assert!(names
        .iter()
        .all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '_')));
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), WorkloadKey::ALL.len());
    for k in WorkloadKey::LEVEL.iter().chain(&WorkloadKey::STACK) {
        assert!(WorkloadKey::ALL.contains(k));
        // The name is the run.json field's last part, or dataset_ + it.
        let last = k.field().rsplit('.').next().unwrap_or_default();
        assert_eq!(k.name(), last);
    }
    assert_eq!(
        WorkloadKey::all_except(&WorkloadKey::LEVEL).len(),
        WorkloadKey::ALL.len() - 2
    );
}

#[test]
fn differences_read_as_key_and_both_values() {
    let a = base();
    let mut b = a.clone();
    b.load.ignore_eos = false;
    b.load.dataset = None;
    b.target.quantization = None;
    let d = differences(&a, &b, &WorkloadKey::ALL);
    assert_eq!(
        join(&d),
        "quantization NVFP4 vs none, ignore_eos true vs false, \
         dataset sha256 abababababab vs generated prompts, dataset_sample 100 vs none, \
         dataset_min_prompt_tokens 4 vs none, dataset_max_prompt_tokens 1024 vs none, \
         dataset_max_output_tokens 512 vs none"
    );
    assert_eq!(
        serde_json::to_string(&d[1]).ok().as_deref(),
        Some(r#"{"key":"ignore_eos","a":"true","b":"false"}"#)
    );
    // Only the keys asked about.
    assert_eq!(
        differences(&a, &b, &WorkloadKey::all_except(&WorkloadKey::STACK)).len(),
        6
    );
}

/// A run without the conversation and reasoning settings (every file
/// written before they existed) reads as one with their defaults, and the
/// salt's value is not part of the workload, only its presence.
#[test]
fn conversation_settings_default_and_a_salt_counts_by_presence() {
    let a = base();
    let read = |k: WorkloadKey| k.read(&a);
    assert_eq!(read(WorkloadKey::Thinking), "default");
    assert_eq!(read(WorkloadKey::Turns), "1");
    assert_eq!(read(WorkloadKey::ThinkTime), "0");
    assert_eq!(read(WorkloadKey::CacheSalt), "none");
    let mut salted = a.clone();
    salted.load.cache_salt = Some("x1".into());
    let mut other_salt = a.clone();
    other_salt.load.cache_salt = Some("y2".into());
    assert_eq!(
        differences(&salted, &other_salt, &WorkloadKey::ALL),
        [],
        "two salts are one workload"
    );
    let mut chat = salted.clone();
    chat.load.turns = 4;
    chat.load.thinking = crate::kinds::Thinking::On;
    assert_eq!(
        join(&differences(&a, &chat, &WorkloadKey::ALL)),
        "thinking default vs on, turns 1 vs 4, cache_salt none vs salted"
    );
}
