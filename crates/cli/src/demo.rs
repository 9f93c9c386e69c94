//! `stackbench demo`: the main job on an embedded default. It is the suite
//! `configs/suites/demo.toml` (built into the binary with its six simulated
//! stacks, so no file or server is needed), run through the same suite code
//! as `stackbench suite`: every stack at c=1, then c=32, both tables.

use std::path::Path;

use stackbench_core::stack::DurationText;
use stackbench_stacks::load_suite_from;

use crate::args::DemoArgs;
use crate::ExitStatus;

/// The demo suite and its stack files, as the repository holds them.
const FILES: &[(&str, &str)] = &[
    (
        "demo.toml",
        include_str!("../../../configs/suites/demo.toml"),
    ),
    (
        "vllm-fp8.toml",
        include_str!("../../../configs/stacks/sim/vllm-fp8.toml"),
    ),
    (
        "vllm-nvfp4.toml",
        include_str!("../../../configs/stacks/sim/vllm-nvfp4.toml"),
    ),
    (
        "vllm-nvfp4-mtp1.toml",
        include_str!("../../../configs/stacks/sim/vllm-nvfp4-mtp1.toml"),
    ),
    (
        "llamacpp-nvfp4.toml",
        include_str!("../../../configs/stacks/sim/llamacpp-nvfp4.toml"),
    ),
    (
        "llamacpp-mxfp4.toml",
        include_str!("../../../configs/stacks/sim/llamacpp-mxfp4.toml"),
    ),
    (
        "ollama-q4km.toml",
        include_str!("../../../configs/stacks/sim/ollama-q4km.toml"),
    ),
];

fn embedded(path: &Path) -> std::io::Result<String> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    FILES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| (*text).to_string())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "not built into the demo"))
}

/// Runs `stackbench demo`.
pub async fn execute(a: DemoArgs) -> anyhow::Result<ExitStatus> {
    let mut suite = load_suite_from(&embedded, Path::new("configs/suites/demo.toml"), &[], &[])?;
    suite.config.defaults.output_tokens = a.output_tokens;
    let duration: DurationText = humantime::format_duration(a.duration)
        .to_string()
        .replace(' ', "")
        .parse()
        .map_err(anyhow::Error::msg)?;
    for s in &mut suite.config.scenarios {
        s.output_tokens = None;
        if s.users() == 1 {
            s.requests = Some(a.single_user_requests);
        } else {
            s.duration = Some(duration.clone());
        }
    }
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| crate::suite_cmd::default_suite_out("demo"));
    crate::suite_cmd::run_loaded(
        &suite,
        &out,
        None,
        a.quiet,
        "\nSimulated stacks: the numbers check the harness against known ground truth; \
         run `stackbench suite` or `stackbench run` against real servers for your box.\n",
    )
    .await
}
