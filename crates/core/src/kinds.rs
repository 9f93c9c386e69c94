//! The closed sets of names stackbench reads and writes, each defined once:
//! the kind of server ([`ServerKind`], and [`FlavorChoice`] where a caller
//! may leave it to the probe), the API requests go to ([`Api`]), and the
//! small vocabularies of `run.json` ([`LaunchKind`], [`RateSource`],
//! [`DatasetFormat`], the upgrade check's [`Side`]).
//!
//! Each is a plain `Copy` enum with its names, aliases and a one-line help
//! in one table ([`Closed`]): the CLI, the stack configs, the simulator and
//! `run.json` all parse and print through it, so the sets cannot drift
//! apart. Parsing a name a user typed is strict (an unknown name is an
//! error listing the known ones); reading `run.json` is not: a field that
//! holds one of these is a [`Recorded`], which keeps a name this version
//! does not know (from a newer stackbench) as [`Recorded::Other`] and
//! writes it back unchanged.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A closed set of names: every member, its canonical name, the other
/// spellings accepted when reading, and a line of help.
pub trait Closed: Copy + Eq + fmt::Debug + Send + Sync + 'static {
    /// What one member is called in messages (`flavor`, `api`).
    const WHAT: &'static str;
    /// Every member, in the order help lists them.
    const ALL: &'static [Self];
    /// The canonical name (configs, the CLI, `run.json`).
    fn name(self) -> &'static str;
    /// Other spellings accepted when reading.
    fn aliases(self) -> &'static [&'static str] {
        &[]
    }
    /// The name `run.json` writes where the format has always spelled this
    /// member differently from [`Closed::name`] (read back either way).
    fn recorded_name(self) -> &'static str {
        self.name()
    }
    /// One line saying what the member is (CLI help).
    fn help(self) -> &'static str;
    /// The member named `s` (canonical name, recorded name or alias).
    fn lookup(s: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|k| k.name() == s || k.recorded_name() == s || k.aliases().contains(&s))
    }
}

/// A name that is not in a [`Closed`] set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} '{got}': expected {expected}")]
pub struct UnknownName {
    /// What was being named.
    pub what: &'static str,
    /// The name given.
    pub got: String,
    /// The known names, as a sentence (`a, b or c`).
    pub expected: String,
}

/// The canonical names of `T`, as a sentence: `a, b or c`.
pub fn names_sentence<T: Closed>() -> String {
    let names: Vec<&str> = T::ALL.iter().map(|k| k.name()).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        Some((last, _)) => (*last).to_string(),
        None => String::new(),
    }
}

/// Strict parsing: `s` must name a member of `T`.
pub fn parse_name<T: Closed>(s: &str) -> Result<T, UnknownName> {
    T::lookup(s).ok_or_else(|| UnknownName {
        what: T::WHAT,
        got: s.to_string(),
        expected: names_sentence::<T>(),
    })
}

/// `FromStr`, `Display` and strict serde (by name) for a [`Closed`] type.
macro_rules! closed_impls {
    ($t:ty) => {
        impl $t {
            /// Every member, in the order help lists them.
            pub const ALL: &'static [Self] = <Self as Closed>::ALL;

            /// The canonical name.
            pub fn name(self) -> &'static str {
                Closed::name(self)
            }
        }
        impl FromStr for $t {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<Self, UnknownName> {
                parse_name(s)
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                parse_name(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// The kind of server at the other end: which request options it honours
/// and which of its own endpoints a run may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServerKind {
    /// vLLM (`vllm serve`).
    Vllm,
    /// llama.cpp's llama-server.
    Llamacpp,
    /// Ollama.
    Ollama,
    /// Any other OpenAI-compatible server: only standard fields are sent.
    Openai,
}

impl Closed for ServerKind {
    const WHAT: &'static str = "flavor";
    const ALL: &'static [Self] = &[Self::Vllm, Self::Llamacpp, Self::Ollama, Self::Openai];
    fn name(self) -> &'static str {
        match self {
            Self::Vllm => "vllm",
            Self::Llamacpp => "llamacpp",
            Self::Ollama => "ollama",
            Self::Openai => "openai",
        }
    }
    fn aliases(self) -> &'static [&'static str] {
        match self {
            Self::Llamacpp => &["llama-server", "llama.cpp"],
            _ => &[],
        }
    }
    fn help(self) -> &'static str {
        match self {
            Self::Vllm => "vLLM: continuous usage stats for exact per-event counts",
            Self::Llamacpp => "llama-server: timings_per_token for exact per-event counts",
            Self::Ollama => "Ollama: no per-event counts (reconciled against the final usage)",
            Self::Openai => "any other OpenAI-compatible server: only standard fields",
        }
    }
}
closed_impls!(ServerKind);

/// What a kind of server does on the wire that a client must allow for:
/// asked of the kind, so that the run and the test harness cannot decide
/// it differently.
impl ServerKind {
    /// Whether one connection may carry several measured streams. Not
    /// llama-server's: it closes the connection after every streamed
    /// response while announcing keep-alive, so a request sent on it races
    /// the close and fails for no fault of the server (curl, which checks
    /// the socket first, opens a new one too).
    pub fn reuses_connections(self) -> bool {
        self != Self::Llamacpp
    }

    /// Whether the server's final token count includes the
    /// end-of-generation token that stopped a stream, which it never
    /// sends (Ollama): the client counts it too, or every stream that
    /// stopped early reads one token short of the server.
    pub fn counts_stop_token(self) -> bool {
        self == Self::Ollama
    }

    /// Whether the server honours the per-event count fields
    /// (`stream_options.continuous_usage_stats`, `timings_per_token`):
    /// vLLM and llama-server do; only they are sent them, as another
    /// server may refuse a field it does not know.
    pub fn honours_per_event_counts(self) -> bool {
        matches!(self, Self::Vllm | Self::Llamacpp)
    }
}

/// How a run decides what kind of server it talks to: named by the user,
/// or left to the probe (`auto`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum FlavorChoice {
    /// Probe the server (`stackbench probe`) and use what it finds.
    #[default]
    Auto,
    /// The user named it: trusted, and its failures are errors.
    Fixed(ServerKind),
}

impl Closed for FlavorChoice {
    const WHAT: &'static str = "flavor";
    const ALL: &'static [Self] = &[
        Self::Auto,
        Self::Fixed(ServerKind::Vllm),
        Self::Fixed(ServerKind::Llamacpp),
        Self::Fixed(ServerKind::Ollama),
        Self::Fixed(ServerKind::Openai),
    ];
    fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Fixed(k) => k.name(),
        }
    }
    fn aliases(self) -> &'static [&'static str] {
        match self {
            Self::Auto => &[],
            Self::Fixed(k) => k.aliases(),
        }
    }
    fn help(self) -> &'static str {
        match self {
            Self::Auto => "probe the server and pick the request options it honours",
            Self::Fixed(k) => k.help(),
        }
    }
}
closed_impls!(FlavorChoice);

impl FlavorChoice {
    /// The kind, when the user named one.
    pub fn fixed(self) -> Option<ServerKind> {
        match self {
            Self::Auto => None,
            Self::Fixed(k) => Some(k),
        }
    }
}

/// The API requests go to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Api {
    /// `POST /v1/chat/completions`.
    #[default]
    Chat,
    /// `POST /v1/completions`.
    Completions,
    /// llama-server's native `POST /completion`.
    LlamaNative,
    /// Ollama's native `POST /api/generate` (NDJSON).
    OllamaGenerate,
    /// Ollama's native `POST /api/chat` (NDJSON).
    OllamaChat,
}

impl Closed for Api {
    const WHAT: &'static str = "api";
    const ALL: &'static [Self] = &[
        Self::Chat,
        Self::Completions,
        Self::LlamaNative,
        Self::OllamaGenerate,
        Self::OllamaChat,
    ];
    fn name(self) -> &'static str {
        match self {
            Self::Chat => "chat",
            Self::Completions => "completions",
            Self::LlamaNative => "native",
            Self::OllamaGenerate => "ollama-generate",
            Self::OllamaChat => "ollama-chat",
        }
    }
    /// `run.json`'s `target.api` has spelled the native API `llama-native`
    /// since version 1 (stack configs and the CLI say `native`).
    fn recorded_name(self) -> &'static str {
        match self {
            Self::LlamaNative => "llama-native",
            other => other.name(),
        }
    }
    fn help(self) -> &'static str {
        match self {
            Self::Chat => "POST /v1/chat/completions",
            Self::Completions => "POST /v1/completions",
            Self::LlamaNative => {
                "llama-server's native POST /completion (exact token ids per event)"
            }
            Self::OllamaGenerate => "Ollama's native POST /api/generate (NDJSON; no ignore_eos)",
            Self::OllamaChat => "Ollama's native POST /api/chat (NDJSON; no ignore_eos)",
        }
    }
}
closed_impls!(Api);

impl Api {
    /// The path below the server root.
    pub fn path(self) -> &'static str {
        match self {
            Self::Chat => "v1/chat/completions",
            Self::Completions => "v1/completions",
            Self::LlamaNative => "completion",
            Self::OllamaGenerate => "api/generate",
            Self::OllamaChat => "api/chat",
        }
    }

    /// Whether the response is NDJSON (Ollama native) rather than SSE.
    pub fn ndjson(self) -> bool {
        matches!(self, Self::OllamaGenerate | Self::OllamaChat)
    }

    /// Whether the stream ends with `data: [DONE]` (OpenAI-compatible
    /// endpoints) or simply closes (llama-server native).
    pub fn ends_with_done(self) -> bool {
        matches!(self, Self::Chat | Self::Completions)
    }

    /// Whether requests carry a conversation (`messages`) rather than a
    /// prompt.
    pub fn is_chat(self) -> bool {
        matches!(self, Self::Chat | Self::OllamaChat)
    }

    /// The server kind only this API belongs to (llama-server's and
    /// Ollama's native APIs), if any.
    pub fn native_to(self) -> Option<ServerKind> {
        match self {
            Self::LlamaNative => Some(ServerKind::Llamacpp),
            Self::OllamaGenerate | Self::OllamaChat => Some(ServerKind::Ollama),
            Self::Chat | Self::Completions => None,
        }
    }
}

/// Whether a run asks the model to think before it answers
/// (`--thinking`), sent in each server's own words (see
/// `stackbench_wire::switches`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Thinking {
    /// Send nothing: the server's and the model's default.
    #[default]
    Default,
    /// Ask for thinking.
    On,
    /// Ask for no thinking.
    Off,
}

impl Thinking {
    /// The switch's value: `None` for the default.
    pub fn wanted(self) -> Option<bool> {
        match self {
            Self::Default => None,
            Self::On => Some(true),
            Self::Off => Some(false),
        }
    }
}

impl Closed for Thinking {
    const WHAT: &'static str = "thinking setting";
    const ALL: &'static [Self] = &[Self::Default, Self::On, Self::Off];
    fn name(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::On => "on",
            Self::Off => "off",
        }
    }
    fn help(self) -> &'static str {
        match self {
            Self::Default => "send no switch: the server's and model's default",
            Self::On => "ask the model to think (each stack's own switch)",
            Self::Off => "ask the model not to think (each stack's own switch)",
        }
    }
}
closed_impls!(Thinking);

/// How stackbench launched a suite's server (`run.json` `launch.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LaunchKind {
    /// `docker run` / `podman run`.
    Container,
    /// A local command.
    Process,
    /// A built-in simulated stack.
    Simulator,
}

impl Closed for LaunchKind {
    const WHAT: &'static str = "launch kind";
    const ALL: &'static [Self] = &[Self::Container, Self::Process, Self::Simulator];
    fn name(self) -> &'static str {
        match self {
            Self::Container => "container",
            Self::Process => "process",
            Self::Simulator => "simulator",
        }
    }
    fn help(self) -> &'static str {
        match self {
            Self::Container => "a container (docker or podman)",
            Self::Process => "a local process",
            Self::Simulator => "a built-in simulated stack",
        }
    }
}
closed_impls!(LaunchKind);

/// Where `summary.output_tok_s` comes from (`output_tok_s_source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateSource {
    /// Tokens inside the steady window / its length.
    SteadyWindow,
    /// Output tokens / the measured phase's wall time (no steady window).
    Wall,
}

impl Closed for RateSource {
    const WHAT: &'static str = "rate source";
    const ALL: &'static [Self] = &[Self::SteadyWindow, Self::Wall];
    fn name(self) -> &'static str {
        match self {
            Self::SteadyWindow => "steady_window",
            Self::Wall => "wall",
        }
    }
    fn help(self) -> &'static str {
        match self {
            Self::SteadyWindow => "tokens inside the steady window / its length",
            Self::Wall => "output tokens / the measured phase's wall time",
        }
    }
}
closed_impls!(RateSource);

/// The format of a dataset file (`load.dataset.format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DatasetFormat {
    /// A JSON array of `conversations`.
    Sharegpt,
    /// One JSON request per line.
    Jsonl,
}

impl Closed for DatasetFormat {
    const WHAT: &'static str = "dataset format";
    const ALL: &'static [Self] = &[Self::Sharegpt, Self::Jsonl];
    fn name(self) -> &'static str {
        match self {
            Self::Sharegpt => "sharegpt",
            Self::Jsonl => "jsonl",
        }
    }
    fn help(self) -> &'static str {
        match self {
            Self::Sharegpt => "a JSON array of conversations",
            Self::Jsonl => "one JSON request per line",
        }
    }
}
closed_impls!(DatasetFormat);

/// The side of an upgrade check (`stackbench upgrade-check`, `calibrate`)
/// a stack or run was: `run.json`'s `suite.side`, `suite.json`'s
/// `stacks[].side`, the folder its files go under, and part of a run's
/// identity (`crate::identity`), so the two sides are never pooled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Side {
    /// The stack as the suite has it: the old.
    Baseline,
    /// The stack with `--candidate` changes applied: the new.
    Candidate,
}

impl Closed for Side {
    const WHAT: &'static str = "upgrade side";
    const ALL: &'static [Self] = &[Self::Baseline, Self::Candidate];
    fn name(self) -> &'static str {
        match self {
            Self::Baseline => "baseline",
            Self::Candidate => "candidate",
        }
    }
    fn help(self) -> &'static str {
        match self {
            Self::Baseline => "the stack as the suite has it",
            Self::Candidate => "the stack with the --candidate changes",
        }
    }
}
closed_impls!(Side);

/// A member of a closed set as `run.json` holds it: a known one, or a name
/// this version does not know (written by a newer stackbench), kept as is
/// and written back unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Recorded<T> {
    /// A member this version knows.
    Known(T),
    /// A name it does not.
    Other(String),
}

impl<T: Closed> Recorded<T> {
    /// The known member, if it is one.
    pub fn known(&self) -> Option<T> {
        match self {
            Self::Known(k) => Some(*k),
            Self::Other(_) => None,
        }
    }

    /// The name as `run.json` writes it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Known(k) => k.recorded_name(),
            Self::Other(s) => s,
        }
    }
}

/// Empty, as the string fields these replaced defaulted to.
impl<T> Default for Recorded<T> {
    fn default() -> Self {
        Self::Other(String::new())
    }
}

impl<T: Closed> From<T> for Recorded<T> {
    fn from(k: T) -> Self {
        Self::Known(k)
    }
}

/// Reads a name leniently: a known one, else [`Recorded::Other`].
impl<T: Closed> From<&str> for Recorded<T> {
    fn from(s: &str) -> Self {
        T::lookup(s).map_or_else(|| Self::Other(s.to_string()), Self::Known)
    }
}

impl<T: Closed> fmt::Display for Recorded<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<T: Closed> PartialEq<str> for Recorded<T> {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl<T: Closed> PartialEq<&str> for Recorded<T> {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl<T: Closed> PartialEq<T> for Recorded<T> {
    fn eq(&self, other: &T) -> bool {
        self.known() == Some(*other)
    }
}

impl<T: Closed> Serialize for Recorded<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de, T: Closed> Deserialize<'de> for Recorded<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Self::from(s.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T: Closed + FromStr + fmt::Display>() {
        for &k in T::ALL {
            assert_eq!(T::lookup(k.name()), Some(k));
            assert_eq!(T::lookup(k.recorded_name()), Some(k));
            for a in k.aliases() {
                assert_eq!(T::lookup(a), Some(k), "{a}");
            }
            assert_eq!(k.to_string(), k.name());
            let r: Recorded<T> = serde_json::from_str(&format!("\"{}\"", k.recorded_name()))
                .expect("a known name reads");
            assert_eq!(r, Recorded::Known(k));
            assert_eq!(
                serde_json::to_string(&r).expect("serializes"),
                format!("\"{}\"", k.recorded_name())
            );
        }
    }

    #[test]
    fn every_set_reads_what_it_writes() {
        round_trip::<ServerKind>();
        round_trip::<FlavorChoice>();
        round_trip::<Api>();
        round_trip::<LaunchKind>();
        round_trip::<RateSource>();
        round_trip::<DatasetFormat>();
        round_trip::<Side>();
    }

    /// `run.json` and `suite.json` have written the side as a lower-case
    /// string since the first upgrade check: files from then still read.
    #[test]
    fn the_upgrade_side_reads_and_writes_the_names_of_old_files() {
        assert_eq!(Side::ALL, &[Side::Baseline, Side::Candidate]);
        for (name, side) in [("baseline", Side::Baseline), ("candidate", Side::Candidate)] {
            assert_eq!(side.name(), name);
            assert_eq!(name.parse(), Ok(side));
            let json = format!("\"{name}\"");
            assert_eq!(serde_json::to_string(&side).unwrap(), json);
            assert_eq!(serde_json::from_str::<Side>(&json).unwrap(), side);
            let r: Recorded<Side> = serde_json::from_str(&json).unwrap();
            assert_eq!(r, Recorded::Known(side));
        }
        let e = "Baseline".parse::<Side>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown upgrade side 'Baseline': expected baseline or candidate"
        );
    }

    #[test]
    fn names_and_aliases_of_today() {
        assert_eq!("llama-server".parse(), Ok(ServerKind::Llamacpp));
        assert_eq!("llama.cpp".parse(), Ok(ServerKind::Llamacpp));
        assert_eq!("auto".parse(), Ok(FlavorChoice::Auto));
        assert_eq!(
            "llama-server".parse(),
            Ok(FlavorChoice::Fixed(ServerKind::Llamacpp))
        );
        assert_eq!("native".parse(), Ok(Api::LlamaNative));
        assert_eq!("llama-native".parse(), Ok(Api::LlamaNative));
        // Stack configs (and run.json's `stack`) say `native`; run.json's
        // `target.api` has always said `llama-native`.
        assert_eq!(
            serde_json::to_string(&Api::LlamaNative).unwrap(),
            "\"native\""
        );
        assert_eq!(
            serde_json::to_string(&Recorded::from(Api::LlamaNative)).unwrap(),
            "\"llama-native\""
        );
        assert_eq!(
            serde_json::to_string(&FlavorChoice::Fixed(ServerKind::Openai)).unwrap(),
            "\"openai\""
        );
    }

    #[test]
    fn user_input_is_strict_and_says_what_is_known() {
        let e = "tgi".parse::<FlavorChoice>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown flavor 'tgi': expected auto, vllm, llamacpp, ollama or openai"
        );
        let e = "generate".parse::<Api>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown api 'generate': expected chat, completions, native, ollama-generate or ollama-chat"
        );
        assert!(serde_json::from_str::<ServerKind>("\"tgi\"").is_err());
        assert!("auto".parse::<ServerKind>().is_err());
    }

    #[test]
    fn each_server_kind_states_its_own_quirks() {
        use ServerKind::*;
        // llama-server closes the connection after every streamed response.
        let reuse: Vec<_> = ServerKind::ALL
            .iter()
            .map(|k| k.reuses_connections())
            .collect();
        assert_eq!(reuse, [true, false, true, true]);
        // Ollama's final count includes the stop token it never sends.
        assert!(Ollama.counts_stop_token());
        assert!(![Vllm, Llamacpp, Openai]
            .iter()
            .any(|k| k.counts_stop_token()));
        // Only vLLM and llama-server honour the per-event count fields.
        let per_event: Vec<_> = ServerKind::ALL
            .iter()
            .map(|k| k.honours_per_event_counts())
            .collect();
        assert_eq!(per_event, [true, true, false, false]);
    }

    #[test]
    fn a_recorded_name_from_a_newer_file_is_kept() {
        let r: Recorded<ServerKind> = serde_json::from_str("\"sglang\"").unwrap();
        assert_eq!(r, Recorded::Other("sglang".into()));
        assert_eq!(r.known(), None);
        assert_eq!(serde_json::to_string(&r).unwrap(), "\"sglang\"");
        assert_eq!(r, "sglang");
        let r: Recorded<RateSource> = "wall".into();
        assert_eq!(r, RateSource::Wall);
        assert!(serde_json::from_str::<Recorded<RateSource>>("3").is_err());
    }
}
