//! What a handler contract needs from the platform beyond the code: for `appwrite`, the
//! `APPWRITE_FUNCTION_*` variables that are the same for every run of a deployment. The workers
//! add the per-run ones (trigger, payload, event) to `req.env` from each invoke frame.

use std::collections::BTreeMap;

use gust_core::{Function, HandlerContract, RuntimeId};

/// Adds the contract's own variables to `env` (a function's merged environment), replacing any
/// the function set under the same names: Appwrite's keys are the platform's to say.
pub fn add_env(
    env: &mut BTreeMap<String, String>,
    function: &Function,
    namespace: &str,
    deployment_id: &str,
) {
    if function.contract != HandlerContract::Appwrite {
        return;
    }
    let (runtime_name, runtime_version) = match function.runtime {
        RuntimeId::Node20 => ("Node.js", "20.0"),
        _ => ("Python", "3.11"),
    };
    for (name, value) in [
        ("APPWRITE_FUNCTION_ID", function.id.as_str()),
        ("APPWRITE_FUNCTION_NAME", function.title.as_str()),
        ("APPWRITE_FUNCTION_DEPLOYMENT", deployment_id),
        ("APPWRITE_FUNCTION_RUNTIME_NAME", runtime_name),
        ("APPWRITE_FUNCTION_RUNTIME_VERSION", runtime_version),
        ("APPWRITE_FUNCTION_PROJECT_ID", namespace),
        // No caller identity reaches a function here; Appwrite's console runs send these empty.
        ("APPWRITE_FUNCTION_USER_ID", ""),
        ("APPWRITE_FUNCTION_JWT", ""),
    ] {
        env.insert(name.to_string(), value.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appwrite_functions_get_the_platform_keys_over_their_own() {
        let spec: gust_core::FunctionSpec = serde_json::from_str(
            r#"{"id":"fn1","name":"f","title":"My function","runtime":"node20","contract":"appwrite"}"#,
        )
        .unwrap();
        let function = spec.into_new_function("ns-id", "proj").unwrap();
        let mut env = BTreeMap::from([
            ("APPWRITE_FUNCTION_ID".to_string(), "mine".to_string()),
            ("KEEP".to_string(), "1".to_string()),
        ]);
        add_env(&mut env, &function, "proj", "dep1");
        assert_eq!(env["APPWRITE_FUNCTION_ID"], "fn1");
        assert_eq!(env["APPWRITE_FUNCTION_NAME"], "My function");
        assert_eq!(env["APPWRITE_FUNCTION_DEPLOYMENT"], "dep1");
        assert_eq!(env["APPWRITE_FUNCTION_RUNTIME_NAME"], "Node.js");
        assert_eq!(env["APPWRITE_FUNCTION_RUNTIME_VERSION"], "20.0");
        assert_eq!(env["APPWRITE_FUNCTION_PROJECT_ID"], "proj");
        assert_eq!(env["KEEP"], "1");

        let gust = gust_core::FunctionSpec {
            contract: Some(HandlerContract::Gust),
            ..serde_json::from_str(r#"{"name":"g","runtime":"node20"}"#).unwrap()
        }
        .into_new_function("ns-id", "proj")
        .unwrap();
        let mut env = BTreeMap::new();
        add_env(&mut env, &gust, "proj", "dep1");
        assert!(env.is_empty());
    }
}
