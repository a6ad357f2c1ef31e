//! `gust token create|list|delete`: API tokens (admin only). The secret is printed once.

use clap::{Subcommand, ValueEnum};

use crate::context::GlobalArgs;
use crate::output;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    /// `gust_` and 64 hex digits.
    Gust,
    /// A UUID, for clients that only take secrets of that shape (Scaleway's SDKs).
    Uuid,
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Make a token; its secret goes to stdout, once.
    Create {
        #[arg(long)]
        description: Option<String>,
        /// `read`, `write`, `invoke` or `admin` (repeatable; default read, write and invoke).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Limit it to one namespace.
        #[arg(long = "only-namespace")]
        only_namespace: Option<String>,
        /// Limit it to one function of that namespace (needs --only-namespace).
        #[arg(long = "only-function", requires = "only_namespace")]
        only_function: Option<String>,
        /// When it stops working (RFC 3339, e.g. 2027-01-01T00:00:00Z).
        #[arg(long)]
        expires_at: Option<String>,
        /// The secret's shape.
        #[arg(long, value_enum, default_value = "gust")]
        format: Format,
    },
    /// List tokens (never their secrets), with when each was last used.
    List,
    /// Show one token.
    Get { id: String },
    /// Revoke a token.
    Delete { id: String },
}

pub async fn run(command: TokenCommand, global: &GlobalArgs) -> anyhow::Result<()> {
    let client = global.client();
    match command {
        TokenCommand::Create {
            description,
            scopes,
            only_namespace,
            only_function,
            expires_at,
            format,
        } => {
            let format = match format {
                Format::Gust => "gust",
                Format::Uuid => "uuid",
            };
            let spec = serde_json::json!({
                "description": description,
                "scopes": (!scopes.is_empty()).then_some(scopes),
                "namespace": only_namespace,
                "function": only_function,
                "expires_at": expires_at,
                "format": format,
            });
            let token = client.create_token(&spec).await?;
            if global.json {
                return output::json(&token);
            }
            eprintln!("token {} (the secret is shown only now)", token.id);
            println!("{}", token.token.unwrap_or_default());
            Ok(())
        }
        TokenCommand::List => {
            let page = client.list_tokens().await?;
            if global.json {
                return output::json(&page);
            }
            let rows = page
                .items
                .iter()
                .map(|t| {
                    let scopes: Vec<String> = t
                        .scopes
                        .iter()
                        .map(|s| {
                            serde_json::to_value(s)
                                .ok()
                                .and_then(|v| v.as_str().map(String::from))
                                .unwrap_or_default()
                        })
                        .collect();
                    vec![
                        t.id.clone(),
                        t.description.clone(),
                        scopes.join(","),
                        t.expires_at.as_ref().map(output::time).unwrap_or_default(),
                        last_used(t),
                    ]
                })
                .collect();
            output::table(
                &["id", "description", "scopes", "expires", "last used"],
                rows,
            );
            Ok(())
        }
        TokenCommand::Get { id } => {
            let token = client.get_token(&id).await?;
            if global.json {
                return output::json(&token);
            }
            println!("id:          {}", token.id);
            println!("description: {}", token.description);
            println!(
                "namespace:   {}",
                token.namespace_id.as_deref().unwrap_or("(any)")
            );
            println!(
                "function:    {}",
                token.function_id.as_deref().unwrap_or("(any)")
            );
            println!("created:     {}", output::time(&token.created_at));
            println!("last used:   {}", last_used(&token));
            Ok(())
        }
        TokenCommand::Delete { id } => {
            client.delete_token(&id).await?;
            eprintln!("token {id} revoked");
            Ok(())
        }
    }
}

fn last_used(token: &gust_core::Token) -> String {
    token
        .last_used_at
        .as_ref()
        .map(output::time)
        .unwrap_or_else(|| "never".into())
}
