//! `gust webhook create|list|delete`: webhooks, URLs that start an async execution of a
//! function with the body POSTed to them, no token needed.

use clap::Subcommand;

use crate::context::GlobalArgs;
use crate::output;

#[derive(Subcommand, Debug)]
pub enum WebhookCommand {
    /// Give a function a webhook; prints its id, and its URL on stderr.
    Create {
        function: String,
        /// Free text shown in lists.
        #[arg(long)]
        description: Option<String>,
    },
    /// List the namespace's webhooks, or one function's.
    List { function: Option<String> },
    /// Remove a webhook: its URL stops working at once.
    Delete { id: String },
}

pub async fn run(command: WebhookCommand, global: &GlobalArgs) -> anyhow::Result<()> {
    let client = global.client();
    let ns = &global.namespace;
    match command {
        WebhookCommand::Create {
            function,
            description,
        } => {
            let webhook = client
                .create_webhook(ns, &function, description.as_deref())
                .await?;
            if global.json {
                return output::json(&webhook);
            }
            println!("{}", webhook.id);
            eprintln!("POST to {} to run {ns}/{function}", webhook.url);
            Ok(())
        }
        WebhookCommand::List { function } => {
            let page = client.list_webhooks(ns, function.as_deref()).await?;
            if global.json {
                return output::json(&page);
            }
            let rows = page
                .items
                .iter()
                .map(|w| {
                    vec![
                        w.id.clone(),
                        w.function_id.clone(),
                        w.url.clone(),
                        w.description.clone(),
                        output::time(&w.created_at),
                    ]
                })
                .collect();
            output::table(&["ID", "FUNCTION", "URL", "DESCRIPTION", "CREATED"], rows);
            Ok(())
        }
        WebhookCommand::Delete { id } => {
            client.delete_webhook(ns, &id).await?;
            eprintln!("deleted webhook {id}");
            Ok(())
        }
    }
}
