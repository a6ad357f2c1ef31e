//! `gust alias create|update|get|list|delete`: names in a namespace pointing at a function and
//! one of its versions, invoked as `gust invoke FN:ALIAS`.

use clap::Subcommand;
use gust_core::{Alias, AliasPatch, AliasSpec};

use crate::context::GlobalArgs;
use crate::output;

#[derive(Subcommand, Debug)]
pub enum AliasCommand {
    /// Name a function and one of its versions (without --version: its current configuration).
    Create {
        /// A DNS label starting with a letter, unique in the namespace.
        name: String,
        /// The function it runs.
        #[arg(long, short)]
        function: String,
        /// The version it runs (0 or absent: the function's current configuration).
        #[arg(long, short)]
        version: Option<u32>,
        #[arg(long, short)]
        description: Option<String>,
    },
    /// Move an alias to another version or function, or change its description.
    Update {
        name: String,
        #[arg(long, short)]
        function: Option<String>,
        /// 0: the function's current configuration.
        #[arg(long, short)]
        version: Option<u32>,
        #[arg(long, short)]
        description: Option<String>,
    },
    /// Show one alias.
    Get { name: String },
    /// List the namespace's aliases.
    List {
        /// Only those of this function.
        #[arg(long, short)]
        function: Option<String>,
    },
    /// Delete an alias: its name stops routing at once.
    Delete { name: String },
}

pub async fn run(command: AliasCommand, global: &GlobalArgs) -> anyhow::Result<()> {
    let client = global.client();
    let ns = global.namespace.as_str();
    let alias = match command {
        AliasCommand::Create {
            name,
            function,
            version,
            description,
        } => {
            let spec = AliasSpec {
                name: Some(name),
                function: Some(function),
                version,
                description,
            };
            client.create_alias(ns, &spec).await?
        }
        AliasCommand::Update {
            name,
            function,
            version,
            description,
        } => {
            let patch = AliasPatch {
                name: None,
                function,
                version,
                description,
            };
            client.update_alias(ns, &name, &patch).await?
        }
        AliasCommand::Get { name } => client.get_alias(ns, &name).await?,
        AliasCommand::List { function } => {
            let page = client.list_aliases(ns, function.as_deref()).await?;
            if global.json {
                return output::json(&page);
            }
            let rows = page.items.iter().map(row).collect();
            output::table(
                &["NAME", "FUNCTION", "VERSION", "DESCRIPTION", "UPDATED"],
                rows,
            );
            return Ok(());
        }
        AliasCommand::Delete { name } => {
            client.delete_alias(ns, &name).await?;
            eprintln!("deleted alias {name}");
            return Ok(());
        }
    };
    if global.json {
        return output::json(&alias);
    }
    output::table(
        &["NAME", "FUNCTION", "VERSION", "DESCRIPTION", "UPDATED"],
        vec![row(&alias)],
    );
    Ok(())
}

fn row(a: &Alias) -> Vec<String> {
    vec![
        a.name.clone(),
        a.function.clone(),
        a.version
            .map_or_else(|| "current".to_string(), |n| n.to_string()),
        a.description.clone(),
        output::time(&a.updated_at),
    ]
}
