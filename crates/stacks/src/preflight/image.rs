//! The image side of a preflight: the stack's image exists for this
//! machine's architecture (pulled, or in its registry), and the GPU is
//! visible inside it.

use std::time::Duration;

use stackbench_core::stack::Engine;

use super::{PreflightOptions, Verdict};

/// What a command printed: (succeeded, stdout, stderr).
type Output = (bool, String, String);

/// Runs `program args`, for at most `timeout`; `Err` when it cannot start
/// or runs too long.
async fn run(program: &str, args: &[&str], timeout: Duration) -> Result<Output, String> {
    let child = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(timeout, child).await {
        Ok(Ok(o)) => Ok((
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).trim().to_string(),
            String::from_utf8_lossy(&o.stderr).trim().to_string(),
        )),
        Ok(Err(e)) => Err(format!("cannot run {program}: {e}")),
        Err(_) => Err(format!(
            "{program} {} took over {timeout:?}",
            args.join(" ")
        )),
    }
}

/// This machine's architecture as images name it (`arm64`, `amd64`).
pub(super) fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        "x86_64" => "amd64",
        other => other,
    }
}

/// The image check: (verdict, detail, whether the image is pulled).
pub(super) async fn image_check(
    engine: Engine,
    image: &str,
    opts: &PreflightOptions,
) -> (Verdict, String, bool) {
    let program = engine.program();
    let arch = host_arch();
    let local = [
        "image",
        "inspect",
        "--format",
        "{{.Os}}/{{.Architecture}}",
        image,
    ];
    match run(program, &local, Duration::from_secs(30)).await {
        Ok((true, platform, _)) if platform.ends_with(&format!("/{arch}")) => {
            return (Verdict::Ok, format!("{image} is pulled ({platform})"), true);
        }
        Ok((true, platform, _)) => {
            let m = format!("{image} is pulled for {platform}, but this machine is {arch}: pull the {arch} image");
            return (Verdict::Problem, m, true);
        }
        Ok((false, _, err)) if !not_pulled(&err) => {
            // The engine itself failed (no daemon, no permission on its
            // socket): every launch would fail the same way.
            let m = format!("{program} cannot inspect {image}: {}", last_line(&err, ""));
            return (Verdict::Problem, m, false);
        }
        Ok(_) => {}
        Err(e) => return (Verdict::Problem, e, false),
    }
    if opts.offline {
        let m = format!("{image} is not pulled; offline: its registry was not asked");
        return (Verdict::Unchecked, m, false);
    }
    let (v, d) = registry_check(program, image, arch).await;
    (v, d, false)
}

/// Whether an `image inspect` error says the image is not pulled (docker:
/// "No such image", podman: "image not known"), rather than that the
/// engine could not answer.
fn not_pulled(err: &str) -> bool {
    let err = err.to_lowercase();
    ["no such image", "image not known", "no such object"]
        .iter()
        .any(|w| err.contains(w))
}

/// Whether `image`'s registry has it for `arch` (`ENGINE manifest inspect`).
async fn registry_check(program: &str, image: &str, arch: &str) -> (Verdict, String) {
    let out = run(
        program,
        &["manifest", "inspect", image],
        Duration::from_secs(60),
    )
    .await;
    let (ok, text, err) = match out {
        Ok(o) => o,
        Err(e) => return (Verdict::Unchecked, e),
    };
    if !ok {
        let missing = ["manifest unknown", "no such manifest", "not found"]
            .iter()
            .any(|w| err.to_lowercase().contains(w));
        return match missing {
            true => (
                Verdict::Problem,
                format!("{image}: no such image in its registry ({err})"),
            ),
            false => (
                Verdict::Unchecked,
                format!("{image}: could not ask its registry ({err})"),
            ),
        };
    }
    let archs = manifest_archs(&text);
    if archs.is_empty() {
        let m = format!(
            "{image} is in its registry (one manifest, no platform list): pulled at launch"
        );
        (Verdict::Unchecked, m)
    } else if archs.iter().any(|a| a == arch) {
        let m =
            format!("{image} is not pulled yet; its registry has it for {arch} (pulled at launch)");
        (Verdict::Ok, m)
    } else {
        let m = format!(
            "{image} has no {arch} build in its registry (it has: {})",
            archs.join(", ")
        );
        (Verdict::Problem, m)
    }
}

/// The architectures of a manifest list (`manifests[].platform`).
fn manifest_archs(text: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
    let list = v["manifests"].as_array().cloned().unwrap_or_default();
    let mut archs: Vec<String> = list
        .iter()
        .filter_map(|m| m["platform"]["architecture"].as_str().map(str::to_string))
        .filter(|a| a != "unknown")
        .collect();
    archs.dedup();
    archs
}

/// Whether the GPU is visible inside `image` (`nvidia-smi -L` in it).
pub(super) async fn gpu_check(
    engine: Engine,
    image: &str,
    gpus: &str,
    pulled: bool,
) -> (Verdict, String) {
    if !pulled {
        let m = "the image is not pulled yet: pull it and run the preflight again to see the GPU from inside it";
        return (Verdict::Unchecked, m.into());
    }
    let args = [
        "run",
        "--rm",
        "--gpus",
        gpus,
        "--entrypoint",
        "nvidia-smi",
        image,
        "-L",
    ];
    match run(engine.program(), &args, Duration::from_secs(180)).await {
        Ok((true, out, _)) if out.contains("GPU ") => (
            Verdict::Ok,
            out.lines().next().unwrap_or_default().to_string(),
        ),
        Ok((_, out, err)) => (
            Verdict::Problem,
            format!(
                "no GPU inside {image} (--gpus {gpus}): {}",
                last_line(&err, &out)
            ),
        ),
        Err(e) => (Verdict::Problem, e),
    }
}

/// The last line of `err`, else of `out`.
fn last_line<'a>(err: &'a str, out: &'a str) -> &'a str {
    let text = if err.is_empty() { out } else { err };
    text.lines().last().unwrap_or("no output")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_list_names_its_architectures() {
        let text = r#"{"manifests":[{"platform":{"architecture":"amd64","os":"linux"}},
            {"platform":{"architecture":"arm64","os":"linux"}},
            {"platform":{"architecture":"unknown","os":"unknown"}}]}"#;
        assert_eq!(manifest_archs(text), ["amd64", "arm64"]);
        assert!(manifest_archs(r#"{"layers":[]}"#).is_empty());
    }
}
