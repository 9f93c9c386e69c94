//! Base-URL handling: users paste a server's root or its `/v1` prefix alike.

/// A base URL we cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid base URL '{url}': {reason}")]
pub struct BaseUrlError {
    /// What the user gave.
    pub url: String,
    /// Why it cannot be used.
    pub reason: String,
}

/// Returns the server root (no trailing slash, no `/v1`) of `input`, which
/// may be `http://host:port`, `http://host:port/`, or `http://host:port/v1`.
pub fn normalize_base_url(input: &str) -> Result<reqwest::Url, BaseUrlError> {
    let err = |reason: &str| BaseUrlError {
        url: input.to_string(),
        reason: reason.to_string(),
    };
    let mut url = reqwest::Url::parse(input.trim()).map_err(|e| err(&e.to_string()))?;
    match url.scheme() {
        "http" | "https" => {}
        _ => return Err(err("scheme must be http or https")),
    }
    if url.host_str().is_none() {
        return Err(err("no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(err("must not have a query or fragment"));
    }
    let path = url.path().trim_end_matches('/');
    let root = path.strip_suffix("/v1").unwrap_or(path).to_string();
    url.set_path(&format!("{root}/"));
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_and_v1_prefix_give_the_same_root() {
        for s in [
            "http://h:8000",
            "http://h:8000/",
            "http://h:8000/v1",
            "http://h:8000/v1/",
        ] {
            assert_eq!(
                normalize_base_url(s).unwrap().as_str(),
                "http://h:8000/",
                "{s}"
            );
        }
        assert_eq!(
            normalize_base_url("http://h/proxy/v1").unwrap().as_str(),
            "http://h/proxy/"
        );
    }

    #[test]
    fn bad_urls_are_errors() {
        assert!(normalize_base_url("localhost:8000").is_err());
        assert!(normalize_base_url("ftp://h").is_err());
        assert!(normalize_base_url("http://h/v1?x=1").is_err());
    }
}
