//! Proxies are refused, on both paths, with a message that says what to do.
//!
//! The measured streams connect straight to the server ([`crate::http1`]
//! speaks to it, not to a proxy), so a proxy in between would be measured
//! on the control plane and bypassed by the streams, or, worse, be the
//! only way to reach the server. Both paths therefore connect directly:
//! the control plane's reqwest clients are built with `no_proxy()`, and
//! when a proxy variable (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`, either
//! case) would apply to the server's URL, as reqwest would apply it
//! (`NO_PROXY` honoured, with the same matcher), making a driver or the
//! first control-plane request fails with [`ProxyError`], naming the
//! variable.

use hyper_util::client::proxy::matcher::Matcher;

/// A proxy variable applies to the server's URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{variable} is set ({proxy}) and applies to {url}, but stackbench connects to servers \
     directly (its measured streams cannot go through a proxy): add {host} to NO_PROXY, \
     or unset {variable}"
)]
pub struct ProxyError {
    /// The variable, as it is spelled in the environment.
    pub variable: &'static str,
    /// Its value, with any credentials masked.
    pub proxy: String,
    /// The server's URL.
    pub url: String,
    /// The URL's host, as NO_PROXY would list it.
    pub host: String,
}

impl From<ProxyError> for crate::RequestError {
    fn from(e: ProxyError) -> Self {
        Self::Connect {
            url: e.url.clone(),
            reason: e.to_string(),
        }
    }
}

/// Fails when a proxy variable of this process's environment applies to
/// `url`; see the module doc.
pub fn refuse_proxy(url: &reqwest::Url) -> Result<(), ProxyError> {
    check(url, |name| std::env::var(name).ok())
}

/// [`refuse_proxy`] over the environment `env`.
fn check(url: &reqwest::Url, env: impl Fn(&str) -> Option<String>) -> Result<(), ProxyError> {
    // reqwest ignores every proxy variable in a CGI environment (the
    // request's `Proxy:` header arrives as HTTP_PROXY there).
    if env("REQUEST_METHOD").is_some() {
        return Ok(());
    }
    // As reqwest (hyper-util) reads them: the first of each pair that is
    // set, the scheme's own before ALL_PROXY.
    let first = |names: [&'static str; 2]| {
        names
            .into_iter()
            .find_map(|name| env(name).map(|value| (name, value)))
    };
    let own = match url.scheme() {
        "http" => first(["HTTP_PROXY", "http_proxy"]),
        "https" => first(["HTTPS_PROXY", "https_proxy"]),
        _ => return Ok(()),
    };
    let no = first(["NO_PROXY", "no_proxy"]).map_or_else(String::new, |(_, v)| v);
    let Ok(uri) = url.as_str().parse::<http::Uri>() else {
        return Ok(());
    };
    for (variable, value) in [own, first(["ALL_PROXY", "all_proxy"])]
        .into_iter()
        .flatten()
    {
        let matcher = Matcher::builder()
            .http(value.as_str())
            .https(value.as_str())
            .no(no.as_str())
            .build();
        if matcher.intercept(&uri).is_some() {
            return Err(ProxyError {
                variable,
                proxy: mask_credentials(&value),
                url: url.to_string(),
                host: url.host_str().unwrap_or_default().to_string(),
            });
        }
    }
    Ok(())
}

/// `http://user:secret@proxy:3128` → `http://***@proxy:3128`.
fn mask_credentials(proxy: &str) -> String {
    let (scheme, rest) = match proxy.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), proxy),
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((_, host)) => format!("{scheme}***@{host}{path}"),
        None => proxy.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> reqwest::Url {
        reqwest::Url::parse(s).expect("a test URL")
    }

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_variable_that_applies_is_named() {
        let e = check(
            &url("http://10.0.0.5:8000/"),
            env(&[("http_proxy", "http://proxy:3128")]),
        )
        .expect_err("http_proxy applies");
        assert_eq!(e.variable, "http_proxy");
        assert_eq!(e.host, "10.0.0.5");
        let text = e.to_string();
        assert!(
            text.contains("http_proxy is set (http://proxy:3128)"),
            "{text}"
        );
        assert!(
            text.contains("add 10.0.0.5 to NO_PROXY, or unset http_proxy"),
            "{text}"
        );

        let https = url("https://api.example.com/v1/");
        let vars = [("HTTP_PROXY", "http://p:1"), ("ALL_PROXY", "socks5://p:2")];
        let e = check(&https, env(&vars)).expect_err("ALL_PROXY applies to https");
        assert_eq!(e.variable, "ALL_PROXY");
        let vars = [("HTTPS_PROXY", "p:1"), ("ALL_PROXY", "socks5://p:2")];
        assert_eq!(
            check(&https, env(&vars)).map_err(|e| e.variable),
            Err("HTTPS_PROXY")
        );
        // Upper case first, as reqwest reads them.
        let vars = [("HTTPS_PROXY", "p:1"), ("https_proxy", "p:2")];
        assert_eq!(
            check(&https, env(&vars)).map_err(|e| e.variable),
            Err("HTTPS_PROXY")
        );
    }

    #[test]
    fn no_proxy_and_other_schemes_let_it_through() {
        let https = url("https://api.example.com:8443/v1/");
        assert_eq!(check(&https, env(&[])), Ok(()));
        assert_eq!(check(&https, env(&[("HTTP_PROXY", "http://p:1")])), Ok(()));
        for no in [
            "example.com",
            ".example.com",
            "api.example.com",
            "*",
            "x, example.com",
        ] {
            let vars = [("HTTPS_PROXY", "http://p:1"), ("NO_PROXY", no)];
            assert_eq!(check(&https, env(&vars)), Ok(()), "NO_PROXY={no}");
        }
        let vars = [("HTTPS_PROXY", "http://p:1"), ("no_proxy", "other.com")];
        assert!(check(&https, env(&vars)).is_err());
        let local = url("http://127.0.0.1:8000/");
        for no in ["127.0.0.1", "127.0.0.0/8"] {
            let vars = [("ALL_PROXY", "http://p:1"), ("no_proxy", no)];
            assert_eq!(check(&local, env(&vars)), Ok(()), "no_proxy={no}");
        }
        let vars = [("HTTP_PROXY", "http://p:1"), ("REQUEST_METHOD", "GET")];
        assert_eq!(check(&local, env(&vars)), Ok(()));
        // A value reqwest cannot use as a proxy is not one.
        assert_eq!(check(&local, env(&[("HTTP_PROXY", "ftp://p:1")])), Ok(()));
    }

    #[test]
    fn credentials_are_masked() {
        let e = check(
            &url("http://h:1/"),
            env(&[("HTTP_PROXY", "http://me:s3cret@proxy:3128/")]),
        )
        .expect_err("applies");
        assert_eq!(e.proxy, "http://***@proxy:3128/");
        assert!(!e.to_string().contains("s3cret"));
        assert_eq!(mask_credentials("me:pw@proxy:1"), "***@proxy:1");
        assert_eq!(mask_credentials("proxy:1"), "proxy:1");
    }
}
