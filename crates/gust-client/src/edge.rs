//! Edge applications, their function instances and rules, and edge domains (integer ids).

use std::collections::BTreeMap;

use gust_core::{
    EdgeApplication, EdgeApplicationSpec, EdgeDomain, EdgeDomainSpec, EdgeRule, EdgeRuleSpec,
    FunctionInstance, FunctionInstanceSpec, Page,
};
use reqwest::Method;

use crate::{Client, ClientResult};

impl Client {
    pub async fn create_edge_application(
        &self,
        ns: &str,
        spec: &EdgeApplicationSpec,
    ) -> ClientResult<EdgeApplication> {
        self.json(
            Method::POST,
            &format!("/api/v1/namespaces/{ns}/edge-applications"),
            Some(spec),
        )
        .await
    }

    /// The applications of `ns`, or every one the token may see.
    pub async fn list_edge_applications(
        &self,
        ns: Option<&str>,
        query: &[(&str, &str)],
    ) -> ClientResult<Page<EdgeApplication>> {
        let path = match ns {
            Some(ns) => format!("/api/v1/namespaces/{ns}/edge-applications"),
            None => "/api/v1/edge-applications".into(),
        };
        self.send(self.request(Method::GET, &path).query(query))
            .await
    }

    pub async fn get_edge_application(&self, id: u64) -> ClientResult<EdgeApplication> {
        self.json(
            Method::GET,
            &format!("/api/v1/edge-applications/{id}"),
            None::<&()>,
        )
        .await
    }

    pub async fn update_edge_application(
        &self,
        id: u64,
        patch: &EdgeApplicationSpec,
    ) -> ClientResult<EdgeApplication> {
        self.json(
            Method::PATCH,
            &format!("/api/v1/edge-applications/{id}"),
            Some(patch),
        )
        .await
    }

    pub async fn delete_edge_application(&self, id: u64) -> ClientResult<()> {
        self.execute(self.request(Method::DELETE, &format!("/api/v1/edge-applications/{id}")))
            .await?;
        Ok(())
    }

    pub async fn create_edge_instance(
        &self,
        app: u64,
        spec: &FunctionInstanceSpec,
    ) -> ClientResult<FunctionInstance> {
        self.json(
            Method::POST,
            &format!("/api/v1/edge-applications/{app}/function-instances"),
            Some(spec),
        )
        .await
    }

    pub async fn list_edge_instances(&self, app: u64) -> ClientResult<Page<FunctionInstance>> {
        self.json(
            Method::GET,
            &format!("/api/v1/edge-applications/{app}/function-instances?limit=1000"),
            None::<&()>,
        )
        .await
    }

    pub async fn get_edge_instance(&self, app: u64, id: u64) -> ClientResult<FunctionInstance> {
        self.json(
            Method::GET,
            &format!("/api/v1/edge-applications/{app}/function-instances/{id}"),
            None::<&()>,
        )
        .await
    }

    pub async fn update_edge_instance(
        &self,
        app: u64,
        id: u64,
        patch: &FunctionInstanceSpec,
    ) -> ClientResult<FunctionInstance> {
        self.json(
            Method::PATCH,
            &format!("/api/v1/edge-applications/{app}/function-instances/{id}"),
            Some(patch),
        )
        .await
    }

    pub async fn delete_edge_instance(&self, app: u64, id: u64) -> ClientResult<()> {
        self.execute(self.request(
            Method::DELETE,
            &format!("/api/v1/edge-applications/{app}/function-instances/{id}"),
        ))
        .await?;
        Ok(())
    }

    /// How many function instances run each function of `ns`, by function id.
    pub async fn edge_instance_counts(&self, ns: &str) -> ClientResult<BTreeMap<String, u64>> {
        self.json(
            Method::GET,
            &format!("/api/v1/namespaces/{ns}/edge-instance-counts"),
            None::<&()>,
        )
        .await
    }

    pub async fn create_edge_rule(&self, app: u64, spec: &EdgeRuleSpec) -> ClientResult<EdgeRule> {
        self.json(
            Method::POST,
            &format!("/api/v1/edge-applications/{app}/rules"),
            Some(spec),
        )
        .await
    }

    /// Every rule of the application, in evaluation order.
    pub async fn list_edge_rules(&self, app: u64) -> ClientResult<Page<EdgeRule>> {
        self.json(
            Method::GET,
            &format!("/api/v1/edge-applications/{app}/rules"),
            None::<&()>,
        )
        .await
    }

    pub async fn get_edge_rule(&self, app: u64, id: u64) -> ClientResult<EdgeRule> {
        self.json(
            Method::GET,
            &format!("/api/v1/edge-applications/{app}/rules/{id}"),
            None::<&()>,
        )
        .await
    }

    pub async fn update_edge_rule(
        &self,
        app: u64,
        id: u64,
        patch: &EdgeRuleSpec,
    ) -> ClientResult<EdgeRule> {
        self.json(
            Method::PATCH,
            &format!("/api/v1/edge-applications/{app}/rules/{id}"),
            Some(patch),
        )
        .await
    }

    pub async fn delete_edge_rule(&self, app: u64, id: u64) -> ClientResult<()> {
        self.execute(self.request(
            Method::DELETE,
            &format!("/api/v1/edge-applications/{app}/rules/{id}"),
        ))
        .await?;
        Ok(())
    }

    pub async fn create_edge_domain(
        &self,
        ns: &str,
        spec: &EdgeDomainSpec,
    ) -> ClientResult<EdgeDomain> {
        self.json(
            Method::POST,
            &format!("/api/v1/namespaces/{ns}/edge-domains"),
            Some(spec),
        )
        .await
    }

    /// The edge domains of `ns`, or every one the token may see.
    pub async fn list_edge_domains(
        &self,
        ns: Option<&str>,
        query: &[(&str, &str)],
    ) -> ClientResult<Page<EdgeDomain>> {
        let path = match ns {
            Some(ns) => format!("/api/v1/namespaces/{ns}/edge-domains"),
            None => "/api/v1/edge-domains".into(),
        };
        self.send(self.request(Method::GET, &path).query(query))
            .await
    }

    pub async fn get_edge_domain(&self, id: u64) -> ClientResult<EdgeDomain> {
        self.json(
            Method::GET,
            &format!("/api/v1/edge-domains/{id}"),
            None::<&()>,
        )
        .await
    }

    pub async fn update_edge_domain(
        &self,
        id: u64,
        patch: &EdgeDomainSpec,
    ) -> ClientResult<EdgeDomain> {
        self.json(
            Method::PATCH,
            &format!("/api/v1/edge-domains/{id}"),
            Some(patch),
        )
        .await
    }

    pub async fn delete_edge_domain(&self, id: u64) -> ClientResult<()> {
        self.execute(self.request(Method::DELETE, &format!("/api/v1/edge-domains/{id}")))
            .await?;
        Ok(())
    }
}
