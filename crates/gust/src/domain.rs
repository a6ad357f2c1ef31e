//! `gust domain add|list|delete`: custom domains of a function. Requests whose host is one of
//! them run the function, as its generated domain name (`gust fn get` shows it) does.

use anyhow::bail;
use clap::Subcommand;

use crate::context::GlobalArgs;
use crate::output;

#[derive(Subcommand, Debug)]
pub enum DomainCommand {
    /// Route requests for HOSTNAME to a function.
    Add {
        /// NAMESPACE/FUNCTION, or FUNCTION in the namespace of `-n`.
        function: String,
        /// A host name such as api.example.com.
        hostname: String,
    },
    /// List a function's custom domains.
    List {
        /// NAMESPACE/FUNCTION, or FUNCTION in the namespace of `-n`.
        function: String,
    },
    /// Remove a custom domain: its host name stops routing at once.
    Delete {
        /// NAMESPACE/FUNCTION, or FUNCTION in the namespace of `-n`.
        function: String,
        id: String,
    },
}

pub async fn run(command: DomainCommand, global: &GlobalArgs) -> anyhow::Result<()> {
    let client = global.client();
    match command {
        DomainCommand::Add { function, hostname } => {
            let (ns, function) = split_function(&function, global)?;
            let domain = client.create_domain(ns, function, &hostname).await?;
            if global.json {
                return output::json(&domain);
            }
            println!("{}", domain.id);
            eprintln!("{} now runs {ns}/{function}", domain.url);
            Ok(())
        }
        DomainCommand::List { function } => {
            let (ns, function) = split_function(&function, global)?;
            let limit = gust_core::list::MAX_LIMIT.to_string();
            let page = client
                .list_domains(ns, function, &[("limit", &limit)])
                .await?;
            if global.json {
                return output::json(&page);
            }
            let rows = page
                .items
                .iter()
                .map(|d| {
                    vec![
                        d.id.clone(),
                        d.hostname.clone(),
                        d.url.clone(),
                        output::time(&d.created_at),
                    ]
                })
                .collect();
            output::table(&["ID", "HOSTNAME", "URL", "CREATED"], rows);
            Ok(())
        }
        DomainCommand::Delete { function, id } => {
            let (ns, function) = split_function(&function, global)?;
            client.delete_domain(ns, function, &id).await?;
            eprintln!("deleted domain {id}");
            Ok(())
        }
    }
}

/// `ns/fn` → (ns, fn); a bare `fn` is in the namespace of `-n`.
fn split_function<'a>(
    given: &'a str,
    global: &'a GlobalArgs,
) -> anyhow::Result<(&'a str, &'a str)> {
    let (ns, function) = given
        .split_once('/')
        .unwrap_or((global.namespace.as_str(), given));
    if ns.is_empty() || function.is_empty() || function.contains('/') {
        bail!("`{given}`: name the function as NAMESPACE/FUNCTION, or FUNCTION with -n NAMESPACE");
    }
    Ok((ns, function))
}
