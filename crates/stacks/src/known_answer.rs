//! A stack's known-answer request (`[known-answer]`), asked once the
//! server is ready and before the benchmark: the answer and whether it
//! held the expected text go into `run.json`, and the tables mark a stack
//! that answered wrong. A question that gets no answer at all (an error)
//! counts as wrong, with the error as the answer.

use stackbench_backends::ControlClient;
use stackbench_core::kinds::{FlavorChoice, ServerKind};
use stackbench_core::run_file::KnownAnswerResult;
use stackbench_core::stack::{KnownAnswer, StackConfig};

/// Characters of the answer kept in `run.json`.
const KEEP_CHARS: usize = 500;

/// Asks `check` of the server `control` talks to, as `stack` is
/// configured.
pub async fn check_known_answer(
    stack: &StackConfig,
    check: &KnownAnswer,
    control: &ControlClient,
    progress: &(dyn Fn(&str) + Sync),
) -> KnownAnswerResult {
    let answer = ask(stack, check, control, progress).await;
    let (answer, passed) = match answer {
        Ok(a) => {
            let passed = a.to_lowercase().contains(&check.expect.to_lowercase());
            (a, passed)
        }
        Err(e) => (format!("error: {e}"), false),
    };
    KnownAnswerResult {
        prompt: check.prompt.clone(),
        expect: check.expect.clone(),
        answer: answer.chars().take(KEEP_CHARS).collect(),
        passed,
    }
}

async fn ask(
    stack: &StackConfig,
    check: &KnownAnswer,
    control: &ControlClient,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<String, String> {
    let model = match &stack.model {
        Some(m) => m.clone(),
        None => stackbench_backends::list_models(control)
            .await
            .map_err(|e| format!("no model named and none listed: {e}"))?
            .into_iter()
            .next()
            .ok_or("no model named and the server lists none")?,
    };
    if stack.flavor == FlavorChoice::Fixed(ServerKind::Ollama) {
        stackbench_backends::ollama_ensure_model(control, &model, progress)
            .await
            .map_err(|e| e.to_string())?;
    }
    let api = stack.api;
    let extra: serde_json::Map<String, serde_json::Value> = stack
        .extra_body
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let body = stackbench_backends::known_answer_body(
        api,
        &model,
        &check.prompt,
        check.max_tokens,
        &extra,
    );
    stackbench_backends::ask_known_answer(control, api, &body)
        .await
        .map_err(|e| e.to_string())
}
