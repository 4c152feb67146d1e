//! The HTTP side: the awsJson1_1 endpoint at `POST /` and the control endpoint under `/_sim/`.

use std::sync::{Arc, Mutex, RwLock};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State as Extract;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::{Value, json};

use crate::api::{ApiError, Body, Request};
use crate::faults::{FaultSettings, Faults};
use crate::generate::{GenerateOptions, generate};
use crate::model::{InputProblem, ServiceModel, validation_message};
use crate::run::{RunRequest, run_window};
use crate::scenario::Scenario;
use crate::state::State;

/// Everything a request needs.
pub struct App {
    pub model: ServiceModel,
    pub state: RwLock<State>,
    pub faults: Faults,
    rng: Mutex<fastrand::Rng>,
    /// Where window runs send their events (an EventBridge endpoint), if anywhere.
    events_url: Mutex<Option<String>>,
}

impl App {
    pub fn new(state: State, faults: FaultSettings) -> Arc<Self> {
        Arc::new(Self {
            model: ServiceModel::load(),
            state: RwLock::new(state),
            rng: Mutex::new(fastrand::Rng::with_seed(faults.seed)),
            faults: Faults::new(faults),
            events_url: Mutex::new(None),
        })
    }

    /// Window runs will `PutEvents` what they produce to this EventBridge endpoint.
    pub fn send_events_to(&self, url: Option<String>) {
        *self
            .events_url
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = url;
    }

    /// Runs a window execution and, when an EventBridge endpoint is set, sends its events there.
    /// Blocking (the events go out over HTTP); returns the run and how many events were sent.
    pub fn run_window(
        &self,
        request: RunRequest,
    ) -> Result<(crate::run::RunResult, usize), crate::error::SimError> {
        let result = {
            let mut state = self
                .state
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let mut rng = self
                .rng
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            run_window(&mut state, request, &mut rng)?
        };
        let url = self
            .events_url
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        let sent = match url {
            Some(url) => {
                let region = self
                    .state
                    .read()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .region
                    .clone();
                crate::eventbridge::put_events(&url, &region, &result.events)?
            }
            None => 0,
        };
        Ok((result, sent))
    }

    fn replace_state(&self, state: State) {
        *self
            .state
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = state;
    }
}

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", post(aws))
        .route(
            "/_sim/health",
            get(|| async { axum::Json(json!({"status": "ok"})) }),
        )
        .route("/_sim/stats", get(stats))
        .route("/_sim/stats/reset", post(reset_stats))
        .route("/_sim/faults", get(get_faults).put(put_faults))
        .route("/_sim/scenario", put(put_scenario))
        .route("/_sim/generate", post(post_generate))
        .route("/_sim/window-executions", post(post_run))
        .with_state(app)
}

const JSON_1_1: &str = "application/x-amz-json-1.1";

fn request_id() -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        fastrand::u32(..),
        fastrand::u16(..),
        fastrand::u16(..0x1000),
        fastrand::u16(..0x1000),
        fastrand::u64(..1 << 48)
    )
}

fn aws_response(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_1_1));
    if let Ok(id) = HeaderValue::from_str(&request_id()) {
        headers.insert("x-amzn-RequestId", id);
    }
    response
}

fn aws_error(error: &ApiError) -> Response {
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST);
    aws_response(
        status,
        json!({"__type": error.code, "message": error.message}).to_string(),
    )
}

async fn aws(Extract(app): Extract<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    if headers.get("x-amz-target").is_none() && crate::ec2::is_query_request(&body) {
        return ec2(&app, &body).await;
    }
    let target = headers
        .get("x-amz-target")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let operation = target.strip_prefix("AmazonSSM.").unwrap_or_default();
    if app.model.operation(operation).is_none() {
        app.faults.record(
            if operation.is_empty() {
                "(none)"
            } else {
                operation
            },
            false,
        );
        return aws_error(&ApiError::new("UnknownOperationException", ""));
    }
    let admission = app.faults.admit(operation);
    if !admission.delay.is_zero() {
        tokio::time::sleep(admission.delay).await;
    }
    if let Some(fault) = admission.fault {
        return aws_error(&fault);
    }
    let result = handle(&app, operation, &body);
    app.faults.record(operation, result.is_ok());
    match result {
        Ok(body) => aws_response(StatusCode::OK, body.into_text()),
        Err(error) => aws_error(&error),
    }
}

/// An EC2 query request (`crate::ec2`): the configured latency applies, the SSM rate limit does not
/// (EC2 throttles its own API separately), and the call is counted in the statistics.
async fn ec2(app: &App, body: &[u8]) -> Response {
    let form = crate::ec2::parse_form(body);
    let latency = app.faults.settings().latency_ms;
    if latency > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
    }
    let (operation, result) = {
        let state = app
            .state
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        crate::ec2::handle(&state, &form)
    };
    app.faults.count(&operation, result.is_ok());
    let (status, text) = match result {
        Ok(xml) => (StatusCode::OK, xml),
        Err(error) => (StatusCode::BAD_REQUEST, error.to_xml(&request_id())),
    };
    let mut response = (status, text).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml;charset=UTF-8"),
    );
    response
}

fn handle(app: &App, operation: &str, body: &[u8]) -> Result<Body, ApiError> {
    let parsed: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(body)
            .map_err(|err| ApiError::new("SerializationException", err.to_string()))?
    };
    let Some(object) = parsed.as_object() else {
        return Err(ApiError::new(
            "SerializationException",
            "The request body must be a JSON object",
        ));
    };
    app.model
        .validate_input(operation, &parsed)
        .map_err(|problem| match problem {
            InputProblem::Serialization(message) => {
                ApiError::new("SerializationException", message)
            }
            InputProblem::Constraints(problems) => {
                ApiError::validation(validation_message(&problems))
            }
        })?;
    let request = Request { body: object };
    crate::ops::dispatch(operation, &app.state, &request)
        .unwrap_or_else(|| Err(ApiError::new("UnknownOperationException", "")))
}

fn control_error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({"error": message.into()}))).into_response()
}

async fn stats(Extract(app): Extract<Arc<App>>) -> Response {
    let operations = app.faults.stats();
    let total: u64 = operations.values().map(|stats| stats.requests).sum();
    axum::Json(json!({"total_requests": total, "operations": operations})).into_response()
}

async fn reset_stats(Extract(app): Extract<Arc<App>>) -> Response {
    app.faults.reset_stats();
    axum::Json(json!({"reset": true})).into_response()
}

async fn get_faults(Extract(app): Extract<Arc<App>>) -> Response {
    axum::Json(app.faults.settings()).into_response()
}

async fn put_faults(Extract(app): Extract<Arc<App>>, body: Bytes) -> Response {
    let settings: FaultSettings = match serde_json::from_slice(&body) {
        Ok(settings) => settings,
        Err(err) => {
            return control_error(StatusCode::BAD_REQUEST, format!("fault settings: {err}"));
        }
    };
    if let Err(err) = settings.check() {
        return control_error(StatusCode::BAD_REQUEST, err.to_string());
    }
    app.faults.set(settings.clone());
    axum::Json(settings).into_response()
}

async fn put_scenario(Extract(app): Extract<Arc<App>>, body: Bytes) -> Response {
    let text = String::from_utf8_lossy(&body);
    match Scenario::from_json(&text).and_then(Scenario::into_state) {
        Ok(state) => {
            let summary = summary(&state);
            app.replace_state(state);
            axum::Json(summary).into_response()
        }
        Err(err) => control_error(StatusCode::BAD_REQUEST, err.to_string()),
    }
}

async fn post_generate(Extract(app): Extract<Arc<App>>, body: Bytes) -> Response {
    let options: GenerateOptions = if body.is_empty() {
        GenerateOptions::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(options) => options,
            Err(err) => {
                return control_error(StatusCode::BAD_REQUEST, format!("generate options: {err}"));
            }
        }
    };
    let state = generate(&options);
    let summary = summary(&state);
    app.replace_state(state);
    axum::Json(summary).into_response()
}

async fn post_run(Extract(app): Extract<Arc<App>>, body: Bytes) -> Response {
    let request: RunRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(err) => {
            return control_error(
                StatusCode::BAD_REQUEST,
                format!("window execution request: {err}"),
            );
        }
    };
    match tokio::task::spawn_blocking(move || app.run_window(request)).await {
        Ok(Ok((result, sent))) => {
            let mut body = serde_json::to_value(&result).unwrap_or(Value::Null);
            body["events_sent"] = json!(sent);
            axum::Json(body).into_response()
        }
        Ok(Err(err @ crate::error::SimError::Delivery { .. })) => {
            control_error(StatusCode::BAD_GATEWAY, err.to_string())
        }
        Ok(Err(err)) => control_error(StatusCode::NOT_FOUND, err.to_string()),
        Err(err) => control_error(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
    }
}

/// What a loaded state holds, for the control endpoint's answers and the startup log.
pub fn summary(state: &State) -> Value {
    json!({
        "instances": state.instances.len(),
        "patch_groups": state.group_members.len(),
        "baselines": state.baselines.len(),
        "windows": state.windows.len(),
        "executions": state.executions.len(),
        "commands": state.commands.len(),
        "parameters": state.parameters.len(),
    })
}
