//! What a preflight asks the model hubs: a Hugging Face repository's files
//! at a revision (`HF_ENDPOINT`, default `https://huggingface.co`, as the
//! `hf` CLI reads it; `HF_TOKEN` sent when set, for gated repositories),
//! and an Ollama tag's manifest (`STACKBENCH_OLLAMA_REGISTRY`, default
//! `https://registry.ollama.ai`).

use std::time::Duration;

/// What a lookup found.
pub(super) enum Lookup<T> {
    /// The answer.
    Found(T),
    /// The hub says there is no such thing (or no access), in words.
    Refused(String),
    /// The hub could not be asked (offline, DNS, timeout), in words.
    Unreachable(String),
}

/// The files (name, bytes) of `repo` at `revision`.
pub(super) async fn hf_files(repo: &str, revision: &str) -> Lookup<Vec<(String, u64)>> {
    let endpoint = std::env::var("HF_ENDPOINT").unwrap_or_else(|_| "https://huggingface.co".into());
    let url = format!(
        "{}/api/models/{repo}/revision/{revision}?blobs=true",
        endpoint.trim_end_matches('/')
    );
    let token = std::env::var("HF_TOKEN").ok().filter(|t| !t.is_empty());
    let v = match get_json(&url, token.as_deref(), None).await {
        Lookup::Found(v) => v,
        Lookup::Refused(m) => return Lookup::Refused(m),
        Lookup::Unreachable(m) => return Lookup::Unreachable(m),
    };
    // The hub describes a gated repository to anyone; its files need a
    // token of an account that accepted its terms.
    let gated = v["gated"].as_bool().unwrap_or(false) || v["gated"].is_string();
    if gated && token.is_none() {
        return Lookup::Refused(format!(
            "{repo} is gated: accept its terms on the hub and set HF_TOKEN"
        ));
    }
    let files = v["siblings"]
        .as_array()
        .map(|s| {
            s.iter()
                .filter_map(|f| Some((f["rfilename"].as_str()?.to_string(), f["size"].as_u64()?)))
                .collect()
        })
        .unwrap_or_default();
    Lookup::Found(files)
}

/// The bytes of an Ollama tag (`name:tag`, `ns/name:tag`): its layers.
pub(super) async fn ollama_tag_bytes(model: &str) -> Lookup<u64> {
    let registry = std::env::var("STACKBENCH_OLLAMA_REGISTRY")
        .unwrap_or_else(|_| "https://registry.ollama.ai".into());
    if model
        .split('/')
        .next()
        .is_some_and(|first| model.contains('/') && (first.contains('.') || first.contains(':')))
    {
        return Lookup::Unreachable(format!("{model} is on another registry: not looked up"));
    }
    let (name, tag) = model.rsplit_once(':').unwrap_or((model, "latest"));
    let name = if name.contains('/') {
        name.to_string()
    } else {
        format!("library/{name}")
    };
    let url = format!(
        "{}/v2/{name}/manifests/{tag}",
        registry.trim_end_matches('/')
    );
    let accept = "application/vnd.docker.distribution.manifest.v2+json";
    match get_json(&url, None, Some(accept)).await {
        Lookup::Found(v) => Lookup::Found(
            v["layers"]
                .as_array()
                .map(|l| l.iter().filter_map(|x| x["size"].as_u64()).sum())
                .unwrap_or(0),
        ),
        Lookup::Refused(m) => Lookup::Refused(m),
        Lookup::Unreachable(m) => Lookup::Unreachable(m),
    }
}

/// `GET url` as JSON; a 4xx is [`Lookup::Refused`], anything else that is
/// not a JSON 2xx is [`Lookup::Unreachable`].
async fn get_json(
    url: &str,
    token: Option<&str>,
    accept: Option<&str>,
) -> Lookup<serde_json::Value> {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
    {
        Ok(c) => c,
        Err(e) => return Lookup::Unreachable(format!("no HTTP client: {e}")),
    };
    let mut req = client.get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(a) = accept {
        req = req.header(reqwest::header::ACCEPT, a);
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => return Lookup::Unreachable(format!("could not reach {url}: {}", chain(&e))),
    };
    let status = resp.status();
    // Rate limits, a proxy asking for credentials, a request timeout:
    // nothing about the model.
    if [407, 408, 429].contains(&status.as_u16()) {
        return Lookup::Unreachable(format!("{url}: HTTP {status}"));
    }
    if status.is_client_error() {
        let why = match status.as_u16() {
            401 | 403 => "no access (gated or private: accept its terms and set HF_TOKEN)",
            404 => "not found",
            _ => "refused",
        };
        return Lookup::Refused(format!("{url}: HTTP {status}, {why}"));
    }
    if !status.is_success() {
        return Lookup::Unreachable(format!("{url}: HTTP {status}"));
    }
    match resp.json().await {
        Ok(v) => Lookup::Found(v),
        Err(e) => Lookup::Unreachable(format!("{url}: not JSON ({e})")),
    }
}

/// An error with its causes (reqwest's own text leaves out the DNS or
/// connection failure behind it).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text += &format!(": {c}");
        cause = c.source();
    }
    text
}
