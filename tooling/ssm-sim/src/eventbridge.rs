//! Sends the events a simulated run produced to an EventBridge endpoint (LocalStack's, locally), the
//! way Systems Manager delivers them to the default bus: `PutEvents` over awsJson1_1, ten entries per
//! call. The request is unsigned beyond the credential scope LocalStack reads the Region from.

use serde_json::{Value, json};

use crate::error::SimError;

/// Puts `events` (full EventBridge envelopes) on the default bus at `url`; returns how many went.
pub fn put_events(url: &str, region: &str, events: &[Value]) -> Result<usize, SimError> {
    let failed = |detail: String| SimError::Delivery {
        url: url.to_owned(),
        detail,
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let date = chrono::Utc::now().format("%Y%m%d");
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential=test/{date}/{region}/events/aws4_request, SignedHeaders=host, Signature=0"
    );
    let mut sent = 0;
    for chunk in events.chunks(10) {
        let entries: Vec<Value> = chunk
            .iter()
            .map(|event| {
                json!({
                    "Source": event["source"],
                    "DetailType": event["detail-type"],
                    "Detail": event["detail"].to_string(),
                    "Resources": event["resources"],
                })
            })
            .collect();
        let mut response = agent
            .post(url)
            .header("Content-Type", "application/x-amz-json-1.1")
            .header("X-Amz-Target", "AWSEvents.PutEvents")
            .header("Authorization", &authorization)
            .send(json!({ "Entries": entries }).to_string())
            .map_err(|err| failed(err.to_string()))?;
        let status = response.status();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|err| failed(err.to_string()))?;
        if !status.is_success() {
            return Err(failed(format!("HTTP {status}: {text}")));
        }
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let refused = body["FailedEntryCount"].as_u64().unwrap_or(0);
        if refused > 0 {
            return Err(failed(format!("{refused} entries refused: {text}")));
        }
        sent += chunk.len();
    }
    Ok(sent)
}
