//! Records the AWS calls a function's binary really makes: a loopback proxy that each function's
//! `AWS_ENDPOINT_URL*` points at. It notes the service, the operation and the request members that
//! name resources or carry condition keys, then forwards the request unchanged to the service that
//! serves it locally (the SSM simulator, moto's DynamoDB, or LocalStack). The production binary runs
//! as in an account; only its endpoint is local.
//!
//! Requests are told apart as the SDKs send them: `X-Amz-Target` for the awsJson services (SSM,
//! DynamoDB), `/service/<service>/operation/<Operation>` for rpcv2-CBOR (CloudWatch), and the
//! `Action` form member for the query services (EC2, SNS), whose service is read from the SigV4
//! credential scope, and for S3 (REST, path-style) the method and path.

use crate::SupportError;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// One call: who made it, to which service and operation, with the request members that matter to
/// IAM (resource names, tag keys, the metric namespace), each as a list of values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedCall {
    pub function: String,
    /// The IAM service prefix: `ssm`, `ec2`, `sns`, `dynamodb`, `cloudwatch`.
    pub service: String,
    pub operation: String,
    pub members: BTreeMap<String, Vec<String>>,
}

/// Where each kind of request goes locally.
#[derive(Debug, Clone)]
pub struct Upstreams {
    pub ssm: String,
    pub dynamodb: String,
    /// Everything else (EC2, SNS, SQS, CloudWatch, EventBridge).
    pub localstack: String,
}

/// The calls every proxy recorded, shared.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    calls: Arc<Mutex<Vec<RecordedCall>>>,
}

impl Recorder {
    pub fn calls(&self) -> Vec<RecordedCall> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    fn push(&self, call: RecordedCall) {
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(call);
        }
    }
}

#[derive(Clone)]
struct Proxy {
    function: String,
    upstreams: Upstreams,
    recorder: Recorder,
    agent: ureq::Agent,
    /// Added latency per operation (e.g. `CreateTags`), for tests of work cut short by a deadline.
    delays: Arc<BTreeMap<String, std::time::Duration>>,
}

/// A running proxy for one function; stops when dropped.
pub struct RecordingProxy {
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RecordingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RecordingProxy {
    pub async fn start(
        function: &str,
        upstreams: Upstreams,
        recorder: Recorder,
    ) -> Result<Self, SupportError> {
        Self::start_delayed(function, upstreams, recorder, BTreeMap::new()).await
    }

    /// A proxy that holds each request for an operation named in `delays` that long before
    /// forwarding it: a slow service, for the deadline tests.
    pub async fn start_delayed(
        function: &str,
        upstreams: Upstreams,
        recorder: Recorder,
        delays: BTreeMap<String, std::time::Duration>,
    ) -> Result<Self, SupportError> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let state = Proxy {
            function: function.to_owned(),
            upstreams,
            recorder,
            agent,
            delays: Arc::new(delays),
        };
        let app = axum::Router::new().fallback(forward).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(SupportError::listen("recording proxy"))?;
        let address = listener
            .local_addr()
            .map_err(SupportError::listen("recording proxy"))?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            url: format!("http://{address}"),
            task,
        })
    }
}

/// The SigV4 credential scope's service: `Credential=<key>/<date>/<region>/<service>/aws4_request`.
fn signed_service(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|auth| auth.split("Credential=").nth(1))
        .and_then(|credential| credential.split('/').nth(3))
}

/// An S3 REST request, path-style (`/bucket/key`): the object operations the functions make.
fn s3_call(method: &Method, uri: &Uri) -> (String, String, BTreeMap<String, Vec<String>>) {
    let path = uri.path().trim_start_matches('/');
    let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
    let operation = match (method.as_str(), key.is_empty()) {
        ("PUT", false) => "PutObject",
        ("GET", false) => "GetObject",
        ("HEAD", false) => "HeadObject",
        ("DELETE", false) => "DeleteObject",
        ("PUT", true) => "CreateBucket",
        _ => "ListBucket",
    };
    let mut members = BTreeMap::from([("Bucket".to_owned(), vec![bucket.to_owned()])]);
    if !key.is_empty() {
        members.insert("Key".to_owned(), vec![key.to_owned()]);
    }
    ("s3".to_owned(), operation.to_owned(), members)
}

/// The service, operation and members of a request, and which upstream serves it.
fn classify(
    method: &Method,
    headers: &HeaderMap,
    uri: &Uri,
    body: &[u8],
) -> Option<(String, String, BTreeMap<String, Vec<String>>)> {
    if signed_service(headers) == Some("s3") {
        return Some(s3_call(method, uri));
    }
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        let (prefix, operation) = target.split_once('.')?;
        let service = match prefix {
            "AmazonSSM" => "ssm",
            p if p.starts_with("DynamoDB") => "dynamodb",
            p if p.starts_with("AWSEvents") => "events",
            p if p.starts_with("AmazonSQS") => "sqs",
            other => other,
        };
        return Some((service.to_owned(), operation.to_owned(), json_members(body)));
    }
    if let Some(rest) = uri.path().strip_prefix("/service/") {
        // rpcv2-CBOR: /service/GraniteServiceVersion20100801/operation/PutMetricData
        let (service, operation) = rest.split_once("/operation/")?;
        let service = if service.starts_with("Granite") {
            "cloudwatch"
        } else {
            service
        };
        let mut members = BTreeMap::new();
        if let Some(namespace) = cbor_text_member(body, "Namespace") {
            members.insert("Namespace".to_owned(), vec![namespace]);
        }
        return Some((service.to_owned(), operation.to_owned(), members));
    }
    let form = form_members(body);
    let operation = form.get("Action")?.first()?.clone();
    // SigV4: Credential=<key>/<date>/<region>/<service>/aws4_request
    let service = signed_service(headers).unwrap_or("unknown").to_owned();
    Some((service, operation, form))
}

/// Top-level string members and lists of strings of a JSON request.
fn json_members(body: &[u8]) -> BTreeMap<String, Vec<String>> {
    let mut members = BTreeMap::new();
    if let Ok(serde_json::Value::Object(object)) = serde_json::from_slice(body) {
        for (key, value) in object {
            let values: Vec<String> = match value {
                serde_json::Value::String(text) => vec![text],
                serde_json::Value::Array(items) => items
                    .into_iter()
                    .filter_map(|item| item.as_str().map(str::to_owned))
                    .collect(),
                _ => continue,
            };
            members.insert(key, values);
        }
    }
    members
}

/// A query-protocol form, with list members (`ResourceId.1`, `Tag.2.Key`) gathered under their
/// name without the index (`ResourceId`, `Tag.Key`).
fn form_members(body: &[u8]) -> BTreeMap<String, Vec<String>> {
    let mut members: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (key, value) in form_urlencoded::parse(body) {
        let name: Vec<&str> = key
            .split('.')
            .filter(|part| !part.chars().all(|c| c.is_ascii_digit()))
            .collect();
        members
            .entry(name.join("."))
            .or_default()
            .push(value.into_owned());
    }
    members
}

/// The text value of a top-level text member of a CBOR map (enough for PutMetricData's Namespace):
/// the key as a CBOR text string, then the value as a CBOR text string.
fn cbor_text_member(body: &[u8], name: &str) -> Option<String> {
    let mut key = vec![0x60 + name.len() as u8];
    key.extend_from_slice(name.as_bytes());
    let at = body.windows(key.len()).position(|w| w == key.as_slice())? + key.len();
    let header = *body.get(at)?;
    let (length, start) = match header {
        0x60..=0x77 => (usize::from(header - 0x60), at + 1),
        0x78 => (usize::from(*body.get(at + 1)?), at + 2),
        0x79 => (
            usize::from(u16::from_be_bytes([*body.get(at + 1)?, *body.get(at + 2)?])),
            at + 3,
        ),
        _ => return None,
    };
    String::from_utf8(body.get(start..start + length)?.to_vec()).ok()
}

async fn forward(
    State(proxy): State<Proxy>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let classified = classify(&method, &headers, &uri, &body);
    let upstream = match classified.as_ref().map(|(service, _, _)| service.as_str()) {
        Some("ssm") => &proxy.upstreams.ssm,
        Some("dynamodb") => &proxy.upstreams.dynamodb,
        _ => &proxy.upstreams.localstack,
    };
    if let Some((service, operation, members)) = classified {
        if let Some(delay) = proxy.delays.get(&operation) {
            tokio::time::sleep(*delay).await;
        }
        proxy.recorder.push(RecordedCall {
            function: proxy.function.clone(),
            service,
            operation,
            members,
        });
    }
    let url = format!(
        "{}{}",
        upstream.trim_end_matches('/'),
        uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
    );
    let agent = proxy.agent.clone();
    let result = tokio::task::spawn_blocking(move || {
        let mut request = ureq::http::Request::builder()
            .method(method.as_str())
            .uri(&url);
        for (name, value) in &headers {
            if name != "host" && name != "content-length" {
                request = request.header(name.as_str(), value.as_bytes());
            }
        }
        let request = request.body(body.to_vec()).map_err(|err| err.to_string())?;
        let response = agent.run(request).map_err(|err| err.to_string())?;
        let status = response.status().as_u16();
        let headers: Vec<(String, Vec<u8>)> = response
            .headers()
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
            .collect();
        let body = response
            .into_body()
            .with_config()
            .limit(256 * 1024 * 1024)
            .read_to_vec()
            .map_err(|err| err.to_string())?;
        Ok::<_, String>((status, headers, body))
    })
    .await;
    match result {
        Ok(Ok((status, response_headers, body))) => {
            let mut response = Response::builder()
                .status(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY));
            for (name, value) in response_headers {
                if name != "transfer-encoding" && name != "content-length" && name != "connection" {
                    response = response.header(name, value);
                }
            }
            response
                .body(axum::body::Body::from(body))
                .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
        }
        Ok(Err(err)) => (StatusCode::BAD_GATEWAY, err).into_response(),
        Err(err) => (StatusCode::BAD_GATEWAY, err.to_string()).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_forms_gather_list_members() {
        let members = form_members(
            b"Action=CreateTags&Version=2016-11-15&ResourceId.1=i-1&ResourceId.2=i-2&Tag.1.Key=Patch%20Group&Tag.1.Value=web",
        );
        assert_eq!(members["Action"], ["CreateTags"]);
        assert_eq!(members["ResourceId"], ["i-1", "i-2"]);
        assert_eq!(members["Tag.Key"], ["Patch Group"]);
    }

    #[test]
    fn the_cbor_namespace_is_read() {
        // {"Namespace": "PatchCompliance", "MetricData": []}
        let mut body = vec![0xa2, 0x69];
        body.extend_from_slice(b"Namespace");
        body.push(0x6f);
        body.extend_from_slice(b"PatchCompliance");
        body.push(0x6a);
        body.extend_from_slice(b"MetricData");
        body.push(0x80);
        assert_eq!(
            cbor_text_member(&body, "Namespace").as_deref(),
            Some("PatchCompliance")
        );
        assert_eq!(cbor_text_member(&body, "Other"), None);
    }
}
