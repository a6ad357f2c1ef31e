//! Printing errors: the message, its causes, then `hint:` lines that say what to do.

use gust_client::ClientError;
use reqwest::StatusCode;

pub fn print(error: &anyhow::Error, default_url: &str) {
    eprintln!("error: {error}");
    for cause in error.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
    let hints = hints(error, default_url);
    if !hints.is_empty() {
        eprintln!();
        for hint in hints {
            eprintln!("hint: {hint}");
        }
    }
}

fn hints(error: &anyhow::Error, default_url: &str) -> Vec<String> {
    if let Some(refused) = error.downcast_ref::<crate::migrate::Refused>() {
        return vec![refused.hint.clone()];
    }
    let Some(client) = error.chain().find_map(|e| e.downcast_ref::<ClientError>()) else {
        return Vec::new();
    };
    match client {
        ClientError::Connect { url, .. } => vec![
            format!("is `gust serve` running at {url}?"),
            format!("point at another server with --url, GUST_URL or `gust login` (default {default_url})"),
        ],
        ClientError::Api { code, .. } if code == "no_code" => vec![
            "upload code first: `gust deploy PATH`, or `gust fn upload-url NAME --size BYTES` and a PUT to that URL".into(),
        ],
        ClientError::Api { status, field, .. } => match *status {
            StatusCode::UNAUTHORIZED => vec![
                "pass a token with --token or GUST_TOKEN, or save one with `gust login`".into(),
                "the server's admin token is in its data dir, in the file `admin-token`".into(),
            ],
            StatusCode::FORBIDDEN => vec!["this token's scopes or namespace do not allow that; ask an admin for a token that does".into()],
            StatusCode::NOT_FOUND => vec!["check the name; `gust fn list` shows the functions of a namespace (-n to choose one)".into()],
            StatusCode::CONFLICT => vec!["pick another name, or change the existing resource instead".into()],
            StatusCode::PAYLOAD_TOO_LARGE => vec!["the server caps uploads (`gust serve --max-upload-mb`); trim the package".into()],
            StatusCode::BAD_REQUEST => match field {
                Some(field) => vec![format!("fix the value of `{field}` and try again")],
                None => Vec::new(),
            },
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}
