//! The one error this crate produces: a value that breaks a rule, with the field it came from.

/// A client-supplied value that is not acceptable. `field` is the JSON path of the value
/// (`memory_mb`, `env.MY KEY`), so the API can name it in its 400 response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

pub type ValidationResult<T> = Result<T, ValidationError>;
