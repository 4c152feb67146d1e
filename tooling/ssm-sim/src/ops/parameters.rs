//! Parameter Store, as far as the functions use it (rules for the tagger).

use chrono::Utc;
use serde_json::json;

use crate::api::{ApiError, ApiResult, Request};
use crate::state::{Parameter, State, epoch};

pub fn get_parameter(state: &State, request: &Request<'_>) -> ApiResult {
    let name = request.required_str("Name")?;
    let parameter = state.parameters.get(name).ok_or_else(|| {
        ApiError::new("ParameterNotFound", format!("Parameter {name} not found."))
    })?;
    // A SecureString read without WithDecryption returns its ciphertext, never the plain text.
    let decrypt = request.bool("WithDecryption").unwrap_or(false);
    let value = if parameter.kind == "SecureString" && !decrypt {
        ciphertext(&parameter.value)
    } else {
        parameter.value.clone()
    };
    Ok(json!({"Parameter": {
        "Name": parameter.name,
        "Type": parameter.kind,
        "Value": value,
        "Version": parameter.version,
        "LastModifiedDate": epoch(parameter.last_modified),
        "ARN": state.arn("parameter", parameter.name.trim_start_matches('/')),
        "DataType": parameter.data_type,
    }}))
}

pub fn put_parameter(state: &mut State, request: &Request<'_>) -> ApiResult {
    let name = request.required_str("Name")?;
    let value = request.required_str("Value")?;
    if value.len() > 4096 {
        return Err(ApiError::validation(
            "Standard parameters hold at most 4 KB",
        ));
    }
    let overwrite = request.bool("Overwrite").unwrap_or(false);
    let version = match state.parameters.get(name) {
        Some(_) if !overwrite => {
            return Err(ApiError::new(
                "ParameterAlreadyExists",
                "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.",
            ));
        }
        Some(existing) => existing.version + 1,
        None => 1,
    };
    let kind = request
        .str("Type")
        .or_else(|| state.parameters.get(name).map(|p| p.kind.as_str()))
        .unwrap_or("String")
        .to_owned();
    state.parameters.insert(
        name.to_owned(),
        Parameter {
            name: name.to_owned(),
            kind,
            value: value.to_owned(),
            version,
            last_modified: Utc::now(),
            description: request.str("Description").map(str::to_owned),
            data_type: request.str("DataType").unwrap_or("text").to_owned(),
        },
    );
    Ok(json!({"Version": version, "Tier": "Standard"}))
}

/// A stand-in for KMS ciphertext: opaque, base64-looking, and never the plain text.
fn ciphertext(plain: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut out = String::from("AQICAHi");
    for (index, byte) in plain.bytes().enumerate() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        if index % 2 == 0 {
            out.push(char::from(ALPHABET[(hash % 64) as usize]));
        }
    }
    out.push_str("==");
    out
}
