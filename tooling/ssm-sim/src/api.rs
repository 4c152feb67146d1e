//! What an operation handler sees and returns: the request body with typed accessors, and AWS-shaped
//! errors.

use serde_json::{Map, Value};

/// An error as SSM returns it: HTTP status, `__type` code and message.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            status: 400,
            code: code.to_owned(),
            message: message.into(),
        }
    }
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationException", message)
    }
    pub fn does_not_exist(message: impl Into<String>) -> Self {
        Self::new("DoesNotExistException", message)
    }
    pub fn invalid_filter(message: impl Into<String>) -> Self {
        Self::new("InvalidFilter", message)
    }
    pub fn invalid_next_token() -> Self {
        Self::new("InvalidNextToken", "The specified token is not valid.")
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            status: 500,
            code: "InternalServerError".to_owned(),
            message: message.into(),
        }
    }
}

pub type ApiResult = Result<Value, ApiError>;

/// A response body: a JSON tree, or JSON text serialized straight from typed rows (the hot paging
/// operations skip building a tree of maps for every instance).
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Json(Value),
    Text(String),
}

impl Body {
    pub fn into_text(self) -> String {
        match self {
            Self::Json(value) => value.to_string(),
            Self::Text(text) => text,
        }
    }
}

/// A validated request body. Validation against the model has already checked types, so the accessors
/// only need to say whether a member is there.
pub struct Request<'a> {
    pub body: &'a Map<String, Value>,
}

impl<'a> Request<'a> {
    pub fn str(&self, name: &str) -> Option<&'a str> {
        self.body.get(name).and_then(Value::as_str)
    }
    pub fn required_str(&self, name: &str) -> Result<&'a str, ApiError> {
        self.str(name)
            .ok_or_else(|| ApiError::validation(format!("{name} is required")))
    }
    pub fn int(&self, name: &str) -> Option<i64> {
        self.body.get(name).and_then(Value::as_i64)
    }
    pub fn bool(&self, name: &str) -> Option<bool> {
        self.body.get(name).and_then(Value::as_bool)
    }
    pub fn list(&self, name: &str) -> &'a [Value] {
        self.body
            .get(name)
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
    pub fn has(&self, name: &str) -> bool {
        self.body.get(name).is_some_and(|value| !value.is_null())
    }
    pub fn get(&self, name: &str) -> Option<&'a Value> {
        self.body.get(name).filter(|value| !value.is_null())
    }
    /// `MaxResults`, or the operation's default page size.
    pub fn page_size(&self, default: usize) -> usize {
        self.int("MaxResults")
            .map(|n| n as usize)
            .unwrap_or(default)
    }
}

/// Strings of a list member (filter values and the like).
pub fn strings(values: &[Value]) -> Vec<&str> {
    values.iter().filter_map(Value::as_str).collect()
}
