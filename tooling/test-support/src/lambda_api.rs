//! Lambda's `Invoke` API (`POST /2015-03-31/functions/{name}/invocations`, RequestResponse) in front
//! of [`FunctionHost`]s, for tools that invoke functions (the `patchpilot` command) where LocalStack
//! cannot run them (its Lambda needs Docker). A failed invocation answers as Lambda does: status 200,
//! `X-Amz-Function-Error: Unhandled`, and the function's `errorType`/`errorMessage` as the body.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use crate::lambda_host::FunctionHost;

/// A running Invoke API; `url` is what `AWS_ENDPOINT_URL_LAMBDA` should say.
pub struct LambdaApi {
    /// The endpoint.
    pub url: String,
    server: tokio::task::JoinHandle<()>,
}

type Functions = Arc<BTreeMap<String, Arc<FunctionHost>>>;

/// The function a name or ARN (`arn:aws:lambda:region:account:function:name[:qualifier]`) means.
fn function_name(name_or_arn: &str) -> &str {
    match name_or_arn.split_once(":function:") {
        Some((_, rest)) => rest.split(':').next().unwrap_or(rest),
        None => name_or_arn,
    }
}

async fn invoke(
    State(functions): State<Functions>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let Some(host) = functions.get(function_name(&name)) else {
        let mut response = (
            StatusCode::NOT_FOUND,
            json!({"Type": "User", "message": format!("Function not found: {name}")}).to_string(),
        )
            .into_response();
        response.headers_mut().insert(
            "x-amzn-ErrorType",
            HeaderValue::from_static("ResourceNotFoundException"),
        );
        return response;
    };
    let payload: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    match host.invoke(payload).await {
        Ok(result) => (StatusCode::OK, result.to_string()).into_response(),
        Err(err) => {
            let mut response = (
                StatusCode::OK,
                json!({"errorType": err.error_type, "errorMessage": err.error_message}).to_string(),
            )
                .into_response();
            response.headers_mut().insert(
                "X-Amz-Function-Error",
                HeaderValue::from_static("Unhandled"),
            );
            response
        }
    }
}

impl LambdaApi {
    /// Serves `functions` (by function name) on a loopback port.
    pub async fn start(functions: BTreeMap<String, Arc<FunctionHost>>) -> Result<Self, String> {
        let app = Router::new()
            .route("/2015-03-31/functions/{name}/invocations", post(invoke))
            .with_state(Arc::new(functions));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|err| format!("Lambda API: {err}"))?;
        let address = listener.local_addr().map_err(|err| err.to_string())?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            url: format!("http://{address}"),
            server,
        })
    }
}

impl Drop for LambdaApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::function_name;

    #[test]
    fn names_and_arns_name_the_function() {
        assert_eq!(function_name("patch-gate"), "patch-gate");
        assert_eq!(
            function_name("arn:aws:lambda:eu-west-1:000000000000:function:patch-gate"),
            "patch-gate"
        );
        assert_eq!(
            function_name("arn:aws:lambda:eu-west-1:000000000000:function:patch-gate:live"),
            "patch-gate"
        );
    }
}
