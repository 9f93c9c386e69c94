//! The HTTP server: routes per flavor, the slot queue, and the generation
//! task that writes each stream on the latency model's schedule.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::Router;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use serde_json::json;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};

use crate::error::TokenizerError;
use crate::fault::{fault_for, ConnectionGate, Fault, FaultKind, RefusingListener};
use crate::flavor::{Flavor, Piece, Renderer, Route, StreamWriter, Timings};
use crate::inject::{self, hold_if_stalled, Strike};
use crate::llama_native::LlamaNativeWriter;
use crate::metrics::SimCounters;
use crate::model::LatencyModel;
use crate::ollama::OllamaWriter;
use crate::ollama_api;
use crate::prefix_cache::{self, PrefixCache};
use crate::profile::{Profile, ReasoningFormat};
use crate::reasoning;
use crate::record::RequestLog;
use crate::request::{
    json_body, parse, parse_llama_native, parse_ollama_native, prompt_ids, SimRequest,
};
use crate::respond::{error_response, with_server_header};
use crate::tokenizer::SimTokenizer;
use crate::tools::{self, CallStream};

const WORDS: &[&str] = &[
    " the",
    " quick",
    " model",
    " serves",
    " tokens",
    " on",
    " a",
    " schedule",
    " and",
    " every",
    " stream",
    " keeps",
    " its",
    " own",
    " pace",
    ".",
];

/// A simulated server, ready to bind.
#[derive(Debug, Clone)]
pub struct SimServer {
    profile: Profile,
    faults: Vec<Fault>,
    tokenizer: Option<Arc<SimTokenizer>>,
    tls: Option<crate::tls::TlsIdentity>,
    api_key: Option<String>,
    request_log: Option<Arc<RequestLog>>,
}

/// A running simulated server; dropping it leaves the server running until
/// the runtime ends, `shutdown` stops it.
#[derive(Debug)]
pub struct SimHandle {
    /// The bound address.
    pub addr: SocketAddr,
    /// Serving HTTPS.
    tls: bool,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl SimHandle {
    /// `http://addr` or `https://addr` (the server root).
    pub fn base_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Stops accepting and waits for the server task.
    pub async fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = self.task.await;
    }

    /// Runs until the server task ends (never, unless it fails).
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

struct SimState {
    profile: Profile,
    model: LatencyModel,
    faults: Vec<Fault>,
    slots: Arc<Semaphore>,
    active: AtomicUsize,
    requests: AtomicU64,
    /// Whether the model load (`load-ms`) has been paid.
    loaded: std::sync::atomic::AtomicBool,
    /// What was served, for `/metrics`.
    counters: SimCounters,
    /// Until then a llama-server answers 503 "Loading model".
    ready_at: Instant,
    /// Counts prompts when set (else words).
    tokenizer: Option<Arc<SimTokenizer>>,
    /// The prefix cache, when the profile gives it a capacity.
    cache: Option<std::sync::Mutex<PrefixCache>>,
    /// Where request bodies are recorded (`--record-requests`).
    request_log: Option<Arc<RequestLog>>,
}

impl SimState {
    /// A fresh server's state: nothing served, the model not yet loaded,
    /// ready once the profile's startup time has passed.
    fn new(
        profile: Profile,
        faults: Vec<Fault>,
        tokenizer: Option<Arc<SimTokenizer>>,
        request_log: Option<Arc<RequestLog>>,
    ) -> Self {
        let startup_s = profile.latency.startup_ms.max(0.0) / 1000.0;
        let cache_tokens = profile.prefix_cache_tokens;
        SimState {
            model: LatencyModel::new(&profile),
            slots: Arc::new(Semaphore::new(profile.latency.max_slots as usize)),
            profile,
            faults,
            active: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            loaded: std::sync::atomic::AtomicBool::new(false),
            counters: SimCounters {
                started_unix_s: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64()),
                ..SimCounters::default()
            },
            ready_at: Instant::now() + Duration::from_secs_f64(startup_s),
            tokenizer,
            cache: (cache_tokens > 0)
                .then(|| std::sync::Mutex::new(PrefixCache::new(cache_tokens))),
            request_log,
        }
    }

    /// The prompt tokens of `body` by the tokenizer, when there is one.
    fn recount(
        &self,
        body: &serde_json::Value,
        templated: bool,
        req: &mut SimRequest,
    ) -> Result<(), TokenizerError> {
        let Some(t) = &self.tokenizer else {
            return Ok(());
        };
        if let Some(n) = t.count_body(body, templated)? {
            req.prompt_tokens = n;
        }
        Ok(())
    }

    /// Records a generation request's body when `--record-requests` is on.
    fn record(&self, path: &str, body: &[u8]) {
        if let Some(log) = &self.request_log {
            log.record(path, body);
        }
    }

    /// Fills in `req.prompt_ids` when the prefix cache is on: the
    /// tokenizer's ids when there is one, else the word tokens the count
    /// was made of (`min_one`: an empty prompt counts one token).
    fn fill_prompt_ids(
        &self,
        body: &serde_json::Value,
        templated: bool,
        min_one: bool,
        req: &mut SimRequest,
    ) -> Result<(), TokenizerError> {
        if self.cache.is_none() {
            return Ok(());
        }
        req.prompt_ids = match &self.tokenizer {
            Some(t) => t
                .body_ids(body, templated)?
                .unwrap_or_default()
                .into_iter()
                .map(u64::from)
                .collect(),
            None => prompt_ids(body, min_one),
        };
        Ok(())
    }

    /// Looks `req`'s prompt up in the prefix cache and keeps it there: the
    /// prompt tokens the server reports as cached (0 without a cache, or
    /// for a llama-server request with `cache_prompt: false`).
    fn cache_hit(&self, req: &SimRequest) -> u64 {
        self.counters
            .prefix_cache_queries
            .fetch_add(req.prompt_tokens, Ordering::Relaxed);
        let Some(Ok(mut cache)) = self.cache.as_ref().map(|c| c.lock()) else {
            return 0;
        };
        let salt = req.cache_salt.as_deref();
        let prefix = if req.cache_prompt {
            cache.longest_prefix(salt, &req.prompt_ids)
        } else {
            0
        };
        cache.insert(salt, req.prompt_ids.clone());
        drop(cache);
        let hit = prefix_cache::usable_hit(
            self.profile.flavor,
            prefix,
            req.prompt_tokens,
            self.profile.prefix_cache_block,
        );
        self.counters
            .prefix_cache_hits
            .fetch_add(hit, Ordering::Relaxed);
        hit
    }

    /// Keeps `req`'s prompt followed by the answer `text` it was sent (a
    /// later turn resends it), once its stream is done.
    fn cache_answer(&self, req: &SimRequest, text: &str) {
        let Some(cache) = &self.cache else { return };
        let answer: Vec<u64> = match &self.tokenizer {
            Some(t) => match t.text_ids(text) {
                Ok(ids) => ids.into_iter().map(u64::from).collect(),
                Err(_) => return,
            },
            None => prefix_cache::word_ids(text).collect(),
        };
        let mut ids = Vec::with_capacity(req.prompt_ids.len() + answer.len());
        ids.extend_from_slice(&req.prompt_ids);
        ids.extend(answer);
        if let Ok(mut c) = cache.lock() {
            c.insert(req.cache_salt.as_deref(), ids);
        }
    }

    /// Forgets the cache (the model was unloaded).
    fn clear_cache(&self) {
        if let Some(Ok(mut c)) = self.cache.as_ref().map(|c| c.lock()) {
            c.clear();
        }
    }
}

/// Holds a slot; releases it and the active count on drop.
struct ActiveSlot {
    state: Arc<SimState>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for ActiveSlot {
    fn drop(&mut self) {
        self.state.active.fetch_sub(1, Ordering::Relaxed);
    }
}

impl SimServer {
    /// A server imitating `profile`.
    pub fn new(profile: Profile) -> Self {
        Self {
            profile,
            faults: Vec::new(),
            tokenizer: None,
            tls: None,
            api_key: None,
            request_log: None,
        }
    }

    /// Records every request body received on a generation endpoint to
    /// `path` (appended, one JSON line `{"path": …, "body": …}` each,
    /// flushed per request).
    pub fn with_request_log(mut self, path: &std::path::Path) -> std::io::Result<Self> {
        self.request_log = Some(Arc::new(RequestLog::open(path)?));
        Ok(self)
    }

    /// Requires `Authorization: Bearer <key>` where the imitated server
    /// checks its key (see `auth.rs`), answering 401 in its shape without
    /// it.
    pub fn with_api_key(mut self, key: String) -> Self {
        self.api_key = Some(key);
        self
    }

    /// Counts prompt tokens with a real tokenizer (see [`SimTokenizer`])
    /// instead of words.
    pub fn with_tokenizer(mut self, tokenizer: SimTokenizer) -> Self {
        self.tokenizer = Some(Arc::new(tokenizer));
        self
    }

    /// Serves HTTPS with `identity` instead of HTTP.
    pub fn with_tls(mut self, identity: crate::tls::TlsIdentity) -> Self {
        self.tls = Some(identity);
        self
    }

    /// Adds faults (see [`Fault`]).
    pub fn with_faults(mut self, faults: Vec<Fault>) -> Self {
        self.faults = faults;
        self
    }

    /// The profile served.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// Binds `addr` (port 0 picks a free port) and starts serving.
    pub async fn bind(self, addr: SocketAddr) -> std::io::Result<SimHandle> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let mut faults = self.profile.faults.clone();
        faults.extend(self.faults);
        let gate = Arc::new(ConnectionGate::new(&faults));
        let state = SimState::new(self.profile, faults, self.tokenizer, self.request_log);
        let app = app(Arc::new(state), self.api_key, gate.active());
        let (tx, rx) = oneshot::channel::<()>();
        // Only an explicit shutdown stops the server; a dropped handle
        // leaves it running.
        let stop = async {
            if rx.await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        let tls = self.tls.is_some();
        let task = match self.tls {
            Some(identity) => tokio::spawn(crate::tls::serve(listener, app, identity, gate, stop)),
            None => serve_plain(listener, app, gate, stop),
        };
        Ok(SimHandle {
            addr,
            tls,
            stop: Some(tx),
            task,
        })
    }
}

/// The flavor's routes with their middleware: llama-server's loading
/// gate, the API key check when one is set, and one connection per
/// request when connection faults are active (`close_each`).
fn app(state: Arc<SimState>, api_key: Option<String>, close_each: bool) -> Router {
    let flavor = state.profile.flavor;
    let mut app = router(flavor, state.profile.dev_mode);
    if flavor == Flavor::Llamacpp {
        app = app.layer(axum::middleware::from_fn_with_state(
            state.clone(),
            loading_gate,
        ));
    }
    if let Some(key) = api_key {
        // Added after the loading gate, so it runs first.
        let key = Arc::new(crate::auth::ApiKey { key, flavor });
        app = app.layer(axum::middleware::from_fn_with_state(
            key,
            crate::auth::check,
        ));
    }
    if close_each {
        // One connection per request, so that refusing every n-th
        // connection refuses every n-th request.
        app = app.layer(axum::middleware::map_response(close_connection));
    }
    app.with_state(state)
}

/// Serves `app` over plain HTTP on `listener` until `stop` completes,
/// refusing the connections `gate` says to.
fn serve_plain(
    listener: tokio::net::TcpListener,
    app: Router,
    gate: Arc<ConnectionGate>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    // Token events are small writes: without TCP_NODELAY, Nagle's
    // algorithm would hold one back until the previous one is ACKed.
    let listener = RefusingListener {
        inner: listener,
        gate,
    }
    .tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(stop);
        if let Err(e) = serve.await {
            tracing::error!("simulator stopped: {e}");
        }
    })
}

fn router(flavor: Flavor, dev_mode: bool) -> Router<Arc<SimState>> {
    let r = Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/completions", post(completions))
        .route("/v1/models", get(models));
    match flavor {
        Flavor::Vllm => r
            .route("/health", get(|| async { StatusCode::OK }))
            .route(
                "/version",
                get(|| async { axum::Json(json!({"version": "0.11.0"})) }),
            )
            .route("/tokenize", post(vllm_tokenize))
            .route("/metrics", get(metrics_page))
            .merge(vllm_dev_routes(dev_mode)),
        Flavor::Llamacpp => r
            .route("/health", get(llama_health))
            .route("/metrics", get(metrics_page))
            .route("/tokenize", post(llama_tokenize))
            .route("/props", get(llama_props))
            .route("/slots", get(llama_slots))
            .route("/slots/{id}", post(llama_slot_action))
            .route("/completion", post(llama_completion))
            .route("/v1/health", get(llama_health))
            .route("/models", get(models)),
        Flavor::Ollama => r
            .route("/", get(|| async { "Ollama is running" }))
            .route("/api/generate", post(ollama_generate))
            .route("/api/chat", post(ollama_chat))
            .route("/api/version", get(|| async { ollama_api::version() }))
            .route(
                "/api/tags",
                get(|State(s): State<Arc<SimState>>| async move { ollama_api::tags(&s.profile) }),
            )
            .route(
                "/api/ps",
                get(|State(s): State<Arc<SimState>>| async move {
                    ollama_api::ps(&s.profile, s.loaded.load(Ordering::Relaxed))
                }),
            )
            .route(
                "/api/show",
                post(|State(s): State<Arc<SimState>>, body: Bytes| async move {
                    ollama_api::show(&s.profile, &body)
                }),
            )
            .route(
                "/api/pull",
                post(|State(s): State<Arc<SimState>>, body: Bytes| async move {
                    ollama_api::pull(&s.profile, &body)
                }),
            )
            .fallback(|| async { ollama_api::not_found() }),
    }
}

/// llama-server answers every endpoint with 503 while the model loads.
async fn loading_gate(
    State(s): State<Arc<SimState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if Instant::now() < s.ready_at {
        let body = json!({"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}});
        return with_server_header(
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response(),
        );
    }
    next.run(req).await
}

async fn llama_health() -> Response {
    with_server_header(axum::Json(json!({"status": "ok"})).into_response())
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

async fn models(State(s): State<Arc<SimState>>) -> Response {
    let m = &s.profile.model;
    let body = match s.profile.flavor {
        Flavor::Vllm => json!({"object": "list", "data": [{
            "id": m, "object": "model", "created": now_unix(), "owned_by": "vllm",
            "root": m, "parent": null, "max_model_len": 32768, "permission": []}]}),
        Flavor::Llamacpp => json!({"models": [{"name": m, "model": m, "type": "model"}],
            "object": "list", "data": [{"id": m, "object": "model", "created": now_unix(),
            "owned_by": "llamacpp", "meta": {"n_vocab": 151936, "n_ctx_train": 262144,
            "n_params": 35_000_000_000_u64, "size": 20_000_000_000_u64}}]}),
        Flavor::Ollama => json!({"object": "list", "data": [{
            "id": m, "object": "model", "created": now_unix(), "owned_by": "library"}]}),
    };
    let r = axum::Json(body).into_response();
    if s.profile.flavor == Flavor::Llamacpp {
        with_server_header(r)
    } else {
        r
    }
}

async fn chat(State(s): State<Arc<SimState>>, body: Bytes) -> Response {
    s.record("/v1/chat/completions", &body);
    hold_if_stalled(handle(s, Route::Chat, body).await).await
}

async fn completions(State(s): State<Arc<SimState>>, body: Bytes) -> Response {
    s.record("/v1/completions", &body);
    hold_if_stalled(handle(s, Route::Completions, body).await).await
}

/// Adds `Connection: close` (the `refuse` fault's one connection per
/// request).
async fn close_connection(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

async fn handle(s: Arc<SimState>, api: Route, body: Bytes) -> Response {
    let flavor = s.profile.flavor;
    let req = match json_body(&body).and_then(|v| {
        let mut r = parse(flavor, api, &v)?;
        s.recount(&v, false, &mut r)?;
        s.fill_prompt_ids(&v, false, api == Route::Completions, &mut r)?;
        Ok(r)
    }) {
        Ok(r) => r,
        Err(e) => return error_response(flavor, StatusCode::BAD_REQUEST, &e.to_string()),
    };
    if flavor == Flavor::Ollama && req.model != s.profile.model {
        return ollama_api::unknown_model(&req.model, true);
    }
    if let Some(msg) = ollama_refusal(&s, &req) {
        // The native 400, rewritten by Ollama's OpenAI middleware.
        let body =
            json!({"error": {"message": msg, "type": "api_error", "param": null, "code": null}});
        return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    }
    let n = s.requests.fetch_add(1, Ordering::Relaxed) + 1;
    let fault = fault_for(&s.faults, n);
    if let Some(r) = inject::instead_of_stream(flavor, fault) {
        return r;
    }
    let renderer = Renderer {
        flavor,
        api,
        id: match (flavor, api) {
            (Flavor::Ollama, Route::Completions) => format!("cmpl-sim{n}"),
            _ => format!("chatcmpl-sim{n}"),
        },
        created: now_unix(),
        model: if req.model.is_empty() {
            s.profile.model.clone()
        } else {
            req.model.clone()
        },
        opts: req.opts,
        prompt_tokens: req.prompt_tokens,
        prompt_details: s.profile.prompt_tokens_details,
        // A vLLM serving a thinking model runs a reasoning parser; with
        // `tags` it runs none (and reports no reasoning count).
        reasoning_details: s.profile.reasoning_share > 0.0
            && s.profile.thinks
            && s.profile.reasoning_format == ReasoningFormat::Field,
    };
    stream_response(s, req, renderer, fault, n).await
}

/// Why the simulated Ollama refuses `req`'s `think`, if it does.
fn ollama_refusal(s: &SimState, req: &SimRequest) -> Option<String> {
    reasoning::ollama_refusal(req.ollama_think.as_ref(), s.profile.thinks, &req.model)
}

async fn ollama_generate(State(s): State<Arc<SimState>>, body: Bytes) -> Response {
    s.record("/api/generate", &body);
    hold_if_stalled(handle_ollama_native(s, false, body).await).await
}

async fn ollama_chat(State(s): State<Arc<SimState>>, body: Bytes) -> Response {
    s.record("/api/chat", &body);
    hold_if_stalled(handle_ollama_native(s, true, body).await).await
}

async fn handle_ollama_native(s: Arc<SimState>, chat: bool, body: Bytes) -> Response {
    // Parsed once: the request, the tokenizer's count and the options
    // check all read the same value.
    let v = match json_body(&body) {
        Ok(v) => v,
        Err(e) => return ollama_api::native_error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let req = match parse_ollama_native(chat, &v).and_then(|mut r| {
        s.recount(&v, true, &mut r)?;
        s.fill_prompt_ids(&v, true, false, &mut r)?;
        Ok(r)
    }) {
        Ok(r) => r,
        Err(e) => return ollama_api::native_error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    if req.model != s.profile.model {
        return ollama_api::unknown_model(&req.model, false);
    }
    if let Err(e) = ollama_api::check_options(&v) {
        return ollama_api::native_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
    }
    if let Some(msg) = ollama_refusal(&s, &req) {
        return ollama_api::native_error(StatusCode::BAD_REQUEST, &msg);
    }
    if req.preload && req.unload {
        s.loaded.store(false, Ordering::Relaxed);
        s.clear_cache();
        let writer = OllamaWriter {
            chat,
            model: req.model.clone(),
            prompt_tokens: 0,
        };
        return ollama_api::json_bytes(StatusCode::OK, writer.load_answer("unload"));
    }
    let n = s.requests.fetch_add(1, Ordering::Relaxed) + 1;
    let fault = fault_for(&s.faults, n);
    if let Some(r) = inject::instead_of_stream(Flavor::Ollama, fault) {
        return r;
    }
    let writer = OllamaWriter {
        chat,
        model: req.model.clone(),
        prompt_tokens: req.prompt_tokens,
    };
    stream_response(s, req, writer, fault, n).await
}

/// Starts the generation task and returns its streaming response. Ollama
/// sends its status line and headers with the first chunk (gin's
/// `c.Stream` writes nothing before it), so a request queued for its one
/// slot gets no header until its first token: the simulated Ollama holds
/// its headers the same way.
async fn stream_response<W: StreamWriter>(
    s: Arc<SimState>,
    req: SimRequest,
    writer: W,
    fault: Option<FaultKind>,
    n: u64,
) -> Response {
    let flavor = s.profile.flavor;
    let queued = s.counters.waiting.fetch_add(1, Ordering::Relaxed);
    let full = s.profile.latency.max_queue.is_some_and(|q| queued >= q);
    if flavor == Flavor::Ollama && full {
        s.counters.waiting.fetch_sub(1, Ordering::Relaxed);
        let msg = "server busy, please try again.  maximum pending requests exceeded";
        return ollama_api::native_error(StatusCode::SERVICE_UNAVAILABLE, msg);
    }
    let (tx, mut rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    let stream = req.stream;
    let content_type = writer.content_type();
    let writer_is_native = content_type == "application/x-ndjson";
    let preload = req.preload;
    tokio::spawn(generate(Instant::now(), s, req, writer, fault, n, tx));
    let first = match flavor {
        Flavor::Ollama => rx.recv().await,
        _ => None,
    };
    let rest = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let body = Body::from_stream(futures_util::StreamExt::chain(
        futures_util::stream::iter(first),
        rest,
    ));
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    if preload {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
    } else if let Some(wrong) = inject::content_type(fault) {
        h.insert(header::CONTENT_TYPE, wrong);
    } else if stream {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    } else if flavor == Flavor::Ollama && writer_is_native {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
    } else {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    if flavor == Flavor::Llamacpp {
        h.insert("x-accel-buffering", HeaderValue::from_static("no"));
        resp = with_server_header(resp);
    }
    resp
}

async fn metrics_page(State(s): State<Arc<SimState>>) -> Response {
    let running = s.active.load(Ordering::Relaxed);
    let page = match s.profile.flavor {
        Flavor::Vllm => s.counters.vllm_page(&s.profile.model, running),
        Flavor::Llamacpp => s.counters.llamacpp_page(running),
        Flavor::Ollama => return StatusCode::NOT_FOUND.into_response(),
    };
    let mut r = page.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

async fn llama_completion(State(s): State<Arc<SimState>>, body: Bytes) -> Response {
    s.record("/completion", &body);
    let req = match json_body(&body).and_then(|v| {
        let mut r = parse_llama_native(&v)?;
        s.fill_prompt_ids(&v, false, true, &mut r)?;
        Ok(r)
    }) {
        Ok(r) => r,
        Err(e) => return error_response(Flavor::Llamacpp, StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let n = s.requests.fetch_add(1, Ordering::Relaxed) + 1;
    let fault = fault_for(&s.faults, n);
    if let Some(r) = inject::instead_of_stream(Flavor::Llamacpp, fault) {
        return hold_if_stalled(r).await;
    }
    let writer = LlamaNativeWriter {
        model: s.profile.model.clone(),
        prompt_tokens: req.prompt_tokens,
    };
    stream_response(s, req, writer, fault, n).await
}

async fn llama_slots(State(s): State<Arc<SimState>>) -> Response {
    let busy = s.active.load(Ordering::Relaxed);
    let slots: Vec<_> = (0..s.profile.latency.max_slots as usize)
        .map(|i| json!({"id": i, "n_ctx": 4096, "is_processing": i < busy}))
        .collect();
    with_server_header(axum::Json(slots).into_response())
}

/// vLLM's dev-mode routes (`VLLM_SERVER_DEV_MODE=1`): none without it.
fn vllm_dev_routes(dev_mode: bool) -> Router<Arc<SimState>> {
    if !dev_mode {
        return Router::new();
    }
    Router::new().route("/reset_prefix_cache", post(vllm_reset_prefix_cache))
}

/// vLLM 0.26+: `{"success": false}` with HTTP 200 while running requests
/// hold blocks, else the cache is emptied.
async fn vllm_reset_prefix_cache(State(s): State<Arc<SimState>>) -> Response {
    if s.active.load(Ordering::Relaxed) > 0 {
        return axum::Json(json!({"success": false})).into_response();
    }
    s.clear_cache();
    axum::Json(json!({"success": true})).into_response()
}

/// llama-server's `POST /slots/{id}?action=erase`. The simulator keeps one
/// cache for all slots, so erasing any slot empties it (erasing each
/// slot, as a reset does, ends the same way on the real server).
async fn llama_slot_action(
    State(s): State<Arc<SimState>>,
    axum::extract::Path(id): axum::extract::Path<u64>,
    uri: axum::http::Uri,
) -> Response {
    let slots = u64::from(s.profile.latency.max_slots);
    if id >= slots {
        let body = json!({"error": {"code": 400, "message": "Invalid slot ID", "type": "invalid_request_error"}});
        return with_server_header((StatusCode::BAD_REQUEST, axum::Json(body)).into_response());
    }
    let erase = uri
        .query()
        .is_some_and(|q| q.split('&').any(|kv| kv == "action=erase"));
    if !erase {
        let body = json!({"error": {"code": 400, "message": "Invalid action", "type": "invalid_request_error"}});
        return with_server_header((StatusCode::BAD_REQUEST, axum::Json(body)).into_response());
    }
    s.clear_cache();
    with_server_header(axum::Json(json!({"id_slot": id, "n_erased": 0})).into_response())
}

async fn llama_tokenize(body: Bytes) -> Response {
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let text = v
        .get("content")
        .and_then(|p| p.as_str())
        .unwrap_or_default();
    let tokens: Vec<u64> = (0..text.split_whitespace().count() as u64)
        .map(|i| 1000 + i)
        .collect();
    with_server_header(axum::Json(json!({ "tokens": tokens })).into_response())
}

async fn llama_props(State(s): State<Arc<SimState>>) -> Response {
    let body = json!({
        "build_info": "b7079-sim0000",
        "total_slots": s.profile.latency.max_slots,
        "model_path": s.profile.model,
        "default_generation_settings": {"n_ctx": 4096},
        "is_sleeping": false,
    });
    with_server_header(axum::Json(body).into_response())
}

async fn vllm_tokenize(body: Bytes) -> Response {
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let text = v.get("prompt").and_then(|p| p.as_str()).unwrap_or_default();
    let tokens: Vec<u64> = (0..text.split_whitespace().count() as u64)
        .map(|i| 1000 + i)
        .collect();
    axum::Json(json!({"count": tokens.len(), "max_model_len": 32768, "tokens": tokens}))
        .into_response()
}

/// Emits one stream on the model's schedule. Stops when the client goes.
async fn generate<W: StreamWriter>(
    accepted: Instant,
    s: Arc<SimState>,
    req: SimRequest,
    r: W,
    fault: Option<FaultKind>,
    n: u64,
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
) {
    let Some((_slot, load_ms)) = take_slot(&s, accepted).await else {
        return;
    };
    if req.preload {
        let _ = tx.send(Ok(Bytes::from(r.load_answer("load")))).await;
        return;
    }
    let mut g = Generation::new(&s, &req, load_ms, n, r.reasoning_field());
    g.plan_call(&s, &req, &r, n);
    while g.sent < g.target {
        let Some(mut buf) = g.next_event(&s, &req, &r).await else {
            continue; // not streamed: the text is kept for the whole answer
        };
        g.events += 1;
        if g.events == inject::STRIKE_EVENT {
            buf = match inject::strike(fault, buf, &r) {
                Strike::Send(buf) => buf,
                Strike::End(items) => {
                    for item in items {
                        let _ = tx.send(item).await;
                    }
                    return;
                }
                Strike::Hold(buf) => {
                    let _ = tx.send(Ok(Bytes::from(buf))).await;
                    // Hold the connection until the client gives up.
                    tx.closed().await;
                    return;
                }
            };
        }
        let buf = inject::chunk(fault, buf);
        if tx.send(Ok(Bytes::from(buf))).await.is_err() {
            return; // client went away
        }
    }
    g.record_finish(&s, &req);
    if inject::skip_close(fault, req.stream) {
        return; // the body just ends
    }
    let buf = inject::chunk(fault, g.closing(&req, &r));
    let _ = tx.send(Ok(Bytes::from(buf))).await;
}

/// Waits for a slot and pays the model load: the slot (held until the
/// stream ends) and the load time to report; `None` when the server is
/// going away.
async fn take_slot(s: &Arc<SimState>, accepted: Instant) -> Option<(ActiveSlot, f64)> {
    // `waiting` was raised when the request was accepted.
    let bookkeeping_ms = (accepted.elapsed().as_secs_f64() * 1000.0).max(1e-3);
    let permit = s.slots.clone().acquire_owned().await;
    s.counters.waiting.fetch_sub(1, Ordering::Relaxed);
    let permit = permit.ok()?;
    s.active.fetch_add(1, Ordering::Relaxed);
    let slot = ActiveSlot {
        state: s.clone(),
        _permit: permit,
    };
    // The first request after start (or an unload) loads the model. A
    // warm one's "load" is the bookkeeping before its slot, as Ollama's
    // `load_duration` is (never zero there, so never left out).
    let load_ms = if s.profile.latency.load_ms > 0.0 && !s.loaded.swap(true, Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_secs_f64(s.profile.latency.load_ms / 1000.0)).await;
        s.profile.latency.load_ms
    } else {
        s.loaded.store(true, Ordering::Relaxed);
        bookkeeping_ms
    };
    Some((slot, load_ms))
}

/// One stream's progress through its schedule.
struct Generation {
    /// Tokens to send, and the finish reason once they are.
    target: u64,
    finish: &'static str,
    /// The first `reasoning` tokens think (see `reasoning.rs`).
    reasoning: u64,
    /// How they are written: `Field` only where the stream has a field.
    format: ReasoningFormat,
    first_at: Instant,
    /// When the next event is due.
    deadline: Instant,
    rng: SmallRng,
    timings: Timings,
    sent: u64,
    events: u32,
    /// The reasoning of a non-streamed answer (in its field).
    whole_reasoning: String,
    /// The text of a non-streamed answer; with the prefix cache on, of
    /// every answer (what a later turn resends).
    whole_text: String,
    /// Keep `whole_text` while streaming (the prefix cache is on).
    keep_text: bool,
    text: String,
    ids: Vec<u32>,
    /// The texts of the last event's tokens.
    pieces: Vec<&'static str>,
    /// The share of the decode rate this request gets: below 1 while the
    /// engine is cold (`cold-requests`).
    rate_factor: f64,
    /// The tool call the whole output makes, when the request forced one.
    tool: Option<CallStream>,
}

impl Generation {
    /// The schedule of `req`'s stream, its prefill counted as done now;
    /// `has_field`: the stream has a reasoning field.
    fn new(s: &SimState, req: &SimRequest, load_ms: f64, n: u64, has_field: bool) -> Self {
        // End of sequence comes early unless ignored (where the flavor can).
        let (target, finish) = match s.profile.latency.eos_after {
            Some(eos) if eos < req.max_tokens && !req.ignore_eos => (eos.max(1), "stop"),
            _ => (req.max_tokens, "length"),
        };
        let (reasoning, format) = reasoning_plan(&s.profile, req, target, has_field);
        // Prefill is paid for the prompt tokens the cache did not hold.
        let cached = s.cache_hit(req);
        let processed = req.prompt_tokens.saturating_sub(cached);
        let prefill = Duration::from_secs_f64(s.model.prefill_s(processed));
        let first_at = Instant::now() + prefill;
        let mut timings = Timings {
            prompt_n: processed,
            prompt_ms: prefill.as_secs_f64() * 1000.0,
            load_ms,
            cache_n: cached,
            reasoning_n: if format == ReasoningFormat::Field {
                reasoning
            } else {
                0
            },
            ..Timings::default()
        };
        // llama-server's generation clock starts at the first token: its
        // predicted_ms spans n − 1 intervals for n tokens (measured against
        // the real server: it equals the client's first-to-last span), so
        // its predicted_per_second reads n/(n − 1) high; the prompt clock
        // covers the first token's step.
        let l = &s.profile.latency;
        // Warming as it serves: from cold-factor up towards 1.
        let rate_factor = if n <= l.cold_requests {
            l.cold_factor + (1.0 - l.cold_factor) * (n - 1) as f64 / l.cold_requests as f64
        } else {
            1.0
        };
        timings.first_token_ms =
            1000.0 / (s.model.stream_tps(s.active.load(Ordering::Relaxed)) * rate_factor);
        s.counters
            .prompt_tokens
            .fetch_add(req.prompt_tokens, Ordering::Relaxed);
        s.counters
            .prompt_us
            .fetch_add((timings.prompt_ms * 1000.0) as u64, Ordering::Relaxed);
        Self {
            target,
            finish,
            reasoning,
            format,
            first_at,
            deadline: first_at,
            rng: SmallRng::seed_from_u64(n),
            timings,
            sent: 0,
            events: 0,
            whole_reasoning: String::new(),
            whole_text: String::new(),
            keep_text: s.cache.is_some(),
            text: String::new(),
            ids: Vec::new(),
            pieces: Vec::new(),
            rate_factor,
            tool: None,
        }
    }

    /// Makes the stream `req`'s forced tool call, if it forces one
    /// (`tools.rs`): the whole output, no reasoning, ending as the
    /// writer's server ends a call.
    fn plan_call<W: StreamWriter>(&mut self, s: &SimState, req: &SimRequest, r: &W, n: u64) {
        let Some(call) = &req.tool_call else { return };
        self.reasoning = 0;
        self.timings.reasoning_n = 0;
        self.finish = r.tool_finish(call);
        let id = tools::call_id(s.profile.flavor, n);
        self.tool = Some(CallStream::new(call.clone(), id, r.whole_tool_call()));
    }

    /// Text and id of output token `k` (0-based): reasoning first, then
    /// the answer words from their start.
    fn token(&self, k: u64) -> (&'static str, u32) {
        if self.tool.is_some() {
            return tools::token(k, self.target);
        }
        if k < self.reasoning {
            return reasoning::reasoning_token(k, self.reasoning, self.format);
        }
        let w = ((k - self.reasoning) as usize) % WORDS.len();
        (WORDS[w], 1000 + w as u32)
    }

    /// Waits until the next event is due and produces its tokens: the
    /// event's bytes when streaming, else `None` (the text is kept). An
    /// event ends where the reasoning ends and the first answer token is
    /// an event of its own, so it is sent at its own deadline.
    async fn next_event<W: StreamWriter>(
        &mut self,
        s: &SimState,
        req: &SimRequest,
        r: &W,
    ) -> Option<Vec<u8>> {
        let first = self.sent == 0;
        let mut size = s
            .model
            .event_size(first, self.target - self.sent, &mut self.rng);
        let thinking = self.sent < self.reasoning;
        if thinking {
            size = size.min(self.reasoning - self.sent);
        } else if self.reasoning > 0 && self.sent == self.reasoning {
            // The first answer event carries one token, as the first event
            // does: it is sent at that token's own deadline.
            size = 1;
        }
        if !first {
            for _ in 0..size {
                let rate = s.model.stream_tps(s.active.load(Ordering::Relaxed)) * self.rate_factor;
                self.deadline += Duration::from_secs_f64(1.0 / rate);
            }
        }
        crate::clock::sleep_until(self.deadline).await;
        self.text.clear();
        self.ids.clear();
        self.pieces.clear();
        for k in self.sent..self.sent + size {
            let (text, id) = self.token(k);
            self.ids.push(id);
            self.pieces.push(text);
            self.text.push_str(text);
        }
        self.sent += size;
        count_event(s, first, size);
        self.timings.predicted_n = self.sent;
        self.timings.predicted_ms = (self.deadline - self.first_at).as_secs_f64() * 1000.0;
        let in_field = thinking && self.format == ReasoningFormat::Field;
        if in_field {
            if !req.stream {
                self.whole_reasoning.push_str(&self.text);
            }
        } else if !req.stream || self.keep_text {
            self.whole_text.push_str(&self.text);
        }
        if !req.stream {
            return None;
        }
        let last = self.sent == self.target;
        if let Some(t) = &mut self.tool {
            if !t.pass(&mut self.text, last) {
                return None; // held: the call is sent whole
            }
        }
        let mut buf = Vec::with_capacity(512);
        if first {
            r.open(&mut buf);
        }
        self.render(r, size, in_field, &mut buf);
        Some(buf)
    }

    /// Writes the last event's `size` tokens, one event per token where
    /// the flavor streams so (the burst written in one flush).
    fn render<W: StreamWriter>(&self, r: &W, size: u64, reasoning: bool, buf: &mut Vec<u8>) {
        if !r.one_event_per_token() {
            let piece = Piece {
                text: &self.text,
                ids: &self.ids,
                cumulative: self.sent,
                finish: (self.sent == self.target).then_some(self.finish),
                reasoning,
                tool: self.tool.as_ref().map(|t| t.part(self.sent == size)),
            };
            r.content(buf, &piece, &self.timings);
            return;
        }
        for (i, (id, text)) in self.ids.iter().zip(&self.pieces).enumerate() {
            let cum = self.sent - size + i as u64 + 1;
            let mut t = self.timings;
            t.predicted_n = cum;
            let piece = Piece {
                text,
                ids: std::slice::from_ref(id),
                cumulative: cum,
                finish: None,
                reasoning,
                tool: self.tool.as_ref().map(|t| t.part(cum == 1)),
            };
            r.content(buf, &piece, &t);
        }
    }

    /// Counts a finished stream in the server's counters, and keeps its
    /// prompt and answer in the prefix cache.
    fn record_finish(&self, s: &SimState, req: &SimRequest) {
        s.counters.generation_us.fetch_add(
            (self.timings.predicted_ms * 1000.0) as u64,
            Ordering::Relaxed,
        );
        s.counters.requests_ok.fetch_add(1, Ordering::Relaxed);
        if req.unload {
            s.loaded.store(false, Ordering::Relaxed); // keep_alive: 0
            s.clear_cache();
        } else {
            s.cache_answer(req, &self.whole_text);
        }
        s.counters
            .finished_generation_tokens
            .fetch_add(self.sent, Ordering::Relaxed);
        s.counters.decode_phase_us.fetch_add(
            u64::try_from((self.deadline - self.first_at).as_micros()).unwrap_or(0),
            Ordering::Relaxed,
        );
    }

    /// The closing event of a stream, or the whole answer of one that was
    /// not streamed.
    fn closing<W: StreamWriter>(&self, req: &SimRequest, r: &W) -> Vec<u8> {
        let mut buf = Vec::with_capacity(512);
        if req.stream {
            r.close(&mut buf, self.finish, self.sent, &self.timings);
        } else {
            let mut v = r.whole(
                &self.whole_reasoning,
                &self.whole_text,
                self.finish,
                self.sent,
                &self.timings,
            );
            if let Some(t) = &self.tool {
                tools::patch_whole(&mut v, &t.part(true), &self.whole_text);
            }
            let _ = serde_json::to_writer(&mut buf, &v);
        }
        buf
    }
}

/// The reasoning tokens of `req`'s `target`-token output and how they are
/// written: none when the model cannot think or the request switched
/// thinking off; the profile's format where the stream has a reasoning
/// field (`has_field`), else `<think>` tags in the text.
fn reasoning_plan(
    p: &Profile,
    req: &SimRequest,
    target: u64,
    has_field: bool,
) -> (u64, ReasoningFormat) {
    let share = if !p.thinks || req.thinking == Some(false) {
        0.0
    } else {
        p.reasoning_share
    };
    // A completions prompt has no template to open a block in.
    let format = if has_field {
        p.reasoning_format
    } else {
        ReasoningFormat::Tags
    };
    (reasoning::reasoning_tokens(share, target, format), format)
}

/// Counts an event of `size` tokens (and, with MTP, its decode step).
fn count_event(s: &SimState, first: bool, size: u64) {
    s.counters
        .generation_tokens
        .fetch_add(size, Ordering::Relaxed);
    if let (Some(drafts), false) = (s.model.mtp_drafts(), first) {
        // One decode step: `drafts` proposed, `size - 1` accepted.
        s.counters.spec_drafts.fetch_add(1, Ordering::Relaxed);
        s.counters
            .spec_draft_tokens
            .fetch_add(u64::from(drafts), Ordering::Relaxed);
        s.counters
            .spec_accepted_tokens
            .fetch_add(size - 1, Ordering::Relaxed);
    }
}
