//! Small metadata requests made before a run.

use std::time::Duration;

use crate::error::RequestError;
use crate::openai::{error_chain, http_client, http_error};

/// `GET /v1/models`: the ids the server lists (OpenAI `data[].id`). Also the
/// cheapest check that the server is up before a run starts.
pub async fn list_models(
    root: &reqwest::Url,
    api_key: Option<&str>,
) -> Result<Vec<String>, RequestError> {
    let url = root.join("v1/models").map_err(|e| RequestError::Connect {
        url: root.to_string(),
        reason: e.to_string(),
    })?;
    let client = http_client(api_key).map_err(|reason| RequestError::Connect {
        url: url.to_string(),
        reason,
    })?;
    let resp = client
        .get(url.clone())
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .map_err(|e| RequestError::Connect {
            url: url.to_string(),
            reason: error_chain(&e),
        })?;
    if !resp.status().is_success() {
        return Err(http_error(resp).await);
    }
    let v: serde_json::Value = resp.json().await.map_err(|e| RequestError::Stream {
        events: 0,
        reason: format!("/v1/models is not JSON: {}", error_chain(&e)),
    })?;
    Ok(v.get("data")
        .and_then(|d| d.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|m| m.get("id").and_then(|i| i.as_str()).map(str::to_string))
                .collect()
        })
        .unwrap_or_default())
}
