//! Answer helpers every route shares: a flavor's error response, and
//! llama-server's `Server: llama.cpp` header.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::flavor::{error_body, Flavor};

/// Adds llama-server's `Server: llama.cpp` header.
pub(crate) fn with_server_header(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::SERVER, HeaderValue::from_static("llama.cpp"));
    r
}

/// An error answer in the flavor's shape.
pub(crate) fn error_response(flavor: Flavor, status: StatusCode, message: &str) -> Response {
    let r = (
        status,
        axum::Json(error_body(flavor, status.as_u16(), message)),
    )
        .into_response();
    if flavor == Flavor::Llamacpp {
        with_server_header(r)
    } else {
        r
    }
}
