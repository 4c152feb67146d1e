//! Lambda's `Invoke` API (`POST /2015-03-31/functions/{name}/invocations`, RequestResponse) in front
//! of [`FunctionHost`]s, for tools that invoke functions (the `patchpilot` command) where LocalStack
//! cannot run them (its Lambda needs Docker). A failed invocation answers as Lambda does: status 200,
//! `X-Amz-Function-Error: Unhandled`, and the function's `errorType`/`errorMessage` as the body.

use crate::SupportError;
use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::lambda_host::FunctionHost;

/// A running Invoke API; `url` is what `AWS_ENDPOINT_URL_LAMBDA` should say.
pub struct LambdaApi {
    /// The endpoint.
    pub url: String,
    /// The account's concurrency as GetAccountSettings and GetFunctionConcurrency answer it; a test
    /// may change it while the API runs.
    pub concurrency: Arc<std::sync::Mutex<AccountConcurrency>>,
    server: tokio::task::JoinHandle<()>,
}

/// The account's concurrency limits, and what every function reserves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountConcurrency {
    /// `AccountLimit.ConcurrentExecutions`.
    pub limit: i64,
    /// `AccountLimit.UnreservedConcurrentExecutions`.
    pub unreserved: i64,
    /// Each function's reserved concurrency (`None`: not reserved).
    pub reserved: Option<i64>,
}

impl Default for AccountConcurrency {
    /// Lambda's documented default: 1,000 concurrent executions, none reserved.
    fn default() -> Self {
        Self {
            limit: 1000,
            unreserved: 1000,
            reserved: None,
        }
    }
}

#[derive(Clone)]
struct ApiState {
    functions: Arc<BTreeMap<String, Arc<FunctionHost>>>,
    concurrency: Arc<std::sync::Mutex<AccountConcurrency>>,
}

impl ApiState {
    fn concurrency(&self) -> AccountConcurrency {
        *self
            .concurrency
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The function a name or ARN (`arn:aws:lambda:region:account:function:name[:qualifier]`) means.
fn function_name(name_or_arn: &str) -> &str {
    match name_or_arn.split_once(":function:") {
        Some((_, rest)) => rest.split(':').next().unwrap_or(rest),
        None => name_or_arn,
    }
}

async fn invoke(State(api): State<ApiState>, Path(name): Path<String>, body: Bytes) -> Response {
    let Some(host) = api.functions.get(function_name(&name)) else {
        return not_found(&name);
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

/// Lambda's answer for a function it does not have.
fn not_found(name: &str) -> Response {
    let mut response = (
        StatusCode::NOT_FOUND,
        json!({"Type": "User", "message": format!("Function not found: {name}")}).to_string(),
    )
        .into_response();
    response.headers_mut().insert(
        "x-amzn-ErrorType",
        HeaderValue::from_static("ResourceNotFoundException"),
    );
    response
}

/// `GetAccountSettings`, from the API's [`AccountConcurrency`].
async fn account_settings(State(api): State<ApiState>) -> Response {
    let concurrency = api.concurrency();
    let body = json!({
        "AccountLimit": {
            "TotalCodeSize": 80_530_636_800_i64,
            "CodeSizeUnzipped": 262_144_000,
            "CodeSizeZipped": 52_428_800,
            "ConcurrentExecutions": concurrency.limit,
            "UnreservedConcurrentExecutions": concurrency.unreserved
        },
        "AccountUsage": {"TotalCodeSize": 0, "FunctionCount": 4}
    });
    (StatusCode::OK, body.to_string()).into_response()
}

/// `GetFunctionConcurrency`: the member is absent when nothing is reserved, as Lambda answers then.
async fn function_concurrency(State(api): State<ApiState>, Path(name): Path<String>) -> Response {
    if api.functions.contains_key(function_name(&name)) {
        let body = match api.concurrency().reserved {
            Some(reserved) => json!({"ReservedConcurrentExecutions": reserved}),
            None => json!({}),
        };
        (StatusCode::OK, body.to_string()).into_response()
    } else {
        not_found(&name)
    }
}

impl LambdaApi {
    /// Serves `functions` (by function name) on a loopback port: Invoke, and the two reads
    /// `patchpilot doctor` makes (GetAccountSettings, GetFunctionConcurrency).
    pub async fn start(
        functions: BTreeMap<String, Arc<FunctionHost>>,
    ) -> Result<Self, SupportError> {
        let concurrency = Arc::new(std::sync::Mutex::new(AccountConcurrency::default()));
        let app = Router::new()
            .route("/2015-03-31/functions/{name}/invocations", post(invoke))
            .route("/2016-08-19/account-settings", get(account_settings))
            .route("/2016-08-19/account-settings/", get(account_settings))
            .route(
                "/2019-09-30/functions/{name}/concurrency",
                get(function_concurrency),
            )
            .with_state(ApiState {
                functions: Arc::new(functions),
                concurrency: concurrency.clone(),
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(SupportError::listen("Lambda API"))?;
        let address = listener
            .local_addr()
            .map_err(SupportError::listen("Lambda API"))?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            url: format!("http://{address}"),
            concurrency,
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
