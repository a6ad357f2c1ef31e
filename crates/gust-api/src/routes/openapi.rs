//! `GET /api/v1/openapi.json`: the OpenAPI document, generated from the routes the router
//! registers, their handlers' annotations and the `gust-core` types, so it cannot drift from
//! the code. [`complete`] adds what holds for every route alike (the errors the extractors and
//! the authentication give, bodies an empty request may stand for), so no annotation has to
//! repeat it.

use std::sync::Arc;

use axum::Json;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::request_body::RequestBody;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayItems, Components, KnownFormat, Object, Schema, SchemaFormat, Type,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Header, Ref, RefOr, Required};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Gust API", description = "Native API of Gust, a self-hosted serverless functions platform."),
    // The paths come from the router's registration (`crate::router`); listed here are the
    // schemas that only parameters refer to, which utoipa does not collect by itself.
    components(schemas(
        gust_core::Order,
        gust_core::AuditAction,
        gust_core::AuditOutcome,
        gust_core::metrics::MetricsWindow
    )),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The errors every operation may answer with besides those its annotation names, each a
/// shared response in `components/responses`: a bad parameter or body (400, the field named), a
/// path naming nothing (404), a body over the JSON limit (413), and for operations behind a
/// token, a missing, unknown or expired one (401), one whose scopes or namespace do not allow
/// the operation (403), and failed authentications from the caller's address past the throttle
/// (429). A JSON body whose schema requires no field is optional: the server reads an empty
/// body as `{}`. Unsigned integers' formats are spelled `uint32` and so on.
pub fn complete(doc: &mut utoipa::openapi::OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    components.schemas.values_mut().for_each(spell_unsigned);
    for (_, name, description) in SHARED_ERRORS {
        let mut response = error_response(description);
        if name == TOO_MANY_REQUESTS {
            response =
                response.header("Retry-After", Header::new(Object::with_type(Type::Integer)));
        }
        components
            .responses
            .insert(name.to_string(), response.build().into());
    }
    let components = doc.components.as_ref();
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            complete_operation(operation, components);
            spell_unsigned_in(operation);
        }
    }
}

/// The formats of unsigned integers in an operation's parameters and inline bodies.
fn spell_unsigned_in(operation: &mut Operation) {
    let parameters = operation.parameters.iter_mut().flatten();
    parameters
        .filter_map(|p| p.schema.as_mut())
        .for_each(spell_unsigned);
    let requests = operation
        .request_body
        .iter_mut()
        .flat_map(|b| b.content.values_mut());
    let responses = operation
        .responses
        .responses
        .values_mut()
        .filter_map(|r| match r {
            RefOr::T(response) => Some(response.content.values_mut()),
            RefOr::Ref(_) => None,
        })
        .flatten();
    for content in requests.chain(responses) {
        if let Some(schema) = content.schema.as_mut() {
            spell_unsigned(schema);
        }
    }
}

/// utoipa spells the unsigned formats `u-int32` (its enum's names in kebab case); everyone else
/// says `uint32`. Without them an unsigned field would read as `int32`, whose range is not its.
fn spell_unsigned(schema: &mut RefOr<Schema>) {
    let RefOr::T(schema) = schema else {
        return;
    };
    let nested: Vec<&mut RefOr<Schema>> = match schema {
        Schema::Object(object) => {
            let spelled = match object.format {
                Some(SchemaFormat::KnownFormat(KnownFormat::UInt8)) => Some("uint8"),
                Some(SchemaFormat::KnownFormat(KnownFormat::UInt16)) => Some("uint16"),
                Some(SchemaFormat::KnownFormat(KnownFormat::UInt32)) => Some("uint32"),
                Some(SchemaFormat::KnownFormat(KnownFormat::UInt64)) => Some("uint64"),
                _ => None,
            };
            if let Some(spelled) = spelled {
                object.format = Some(SchemaFormat::Custom(spelled.to_string()));
            }
            let additional = match object.additional_properties.as_deref_mut() {
                Some(AdditionalProperties::RefOr(schema)) => Some(schema),
                _ => None,
            };
            object.properties.values_mut().chain(additional).collect()
        }
        Schema::Array(array) => match &mut array.items {
            ArrayItems::RefOrSchema(items) => vec![items.as_mut()],
            _ => Vec::new(),
        },
        Schema::OneOf(one_of) => one_of.items.iter_mut().collect(),
        Schema::AllOf(all_of) => all_of.items.iter_mut().collect(),
        Schema::AnyOf(any_of) => any_of.items.iter_mut().collect(),
        _ => Vec::new(),
    };
    nested.into_iter().for_each(spell_unsigned);
}

const TOO_MANY_REQUESTS: &str = "TooManyRequests";

/// Status, name in `components/responses`, description.
const SHARED_ERRORS: [(&str, &str, &str); 6] = [
    (
        "400",
        "BadRequest",
        "Bad input: `field` in the error names the parameter or body field.",
    ),
    (
        "401",
        "Unauthorized",
        "No `Authorization: Bearer` token, or an unknown or expired one.",
    ),
    (
        "403",
        "Forbidden",
        "The token's scopes, namespace or function do not allow this.",
    ),
    (
        "404",
        "NotFound",
        "Something the path names does not exist.",
    ),
    (
        "413",
        "PayloadTooLarge",
        "The body is larger than the server accepts.",
    ),
    (
        "429",
        TOO_MANY_REQUESTS,
        "Too many failed authentications from this address; retry after `Retry-After` seconds.",
    ),
];

fn complete_operation(operation: &mut Operation, components: Option<&Components>) {
    let parameters = operation.parameters.as_deref().unwrap_or_default();
    let in_path = parameters
        .iter()
        .any(|p| p.parameter_in == ParameterIn::Path);
    let has_body = operation.request_body.is_some();
    // `security(())` in an annotation: the path itself is the credential.
    let public = operation
        .security
        .as_ref()
        .is_some_and(|s| s.contains(&SecurityRequirement::default()));
    let applies = |name: &str| match name {
        "BadRequest" => !parameters.is_empty() || has_body,
        "Unauthorized" | "Forbidden" | TOO_MANY_REQUESTS => !public,
        "NotFound" => in_path,
        "PayloadTooLarge" => has_body,
        _ => false,
    };
    let wanted: Vec<(&str, &str)> = SHARED_ERRORS
        .iter()
        .filter(|(_, name, _)| applies(name))
        .map(|(status, name, _)| (*status, *name))
        .collect();
    let responses = &mut operation.responses.responses;
    for (status, name) in wanted {
        responses
            .entry(status.to_string())
            .or_insert_with(|| Ref::new(format!("#/components/responses/{name}")).into());
    }
    if let Some(body) = operation.request_body.as_mut()
        && requires_no_field(body, components)
    {
        body.required = Some(Required::False);
    }
}

fn error_response(description: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorBody")))
            .build(),
    )
}

/// Whether `body` is JSON of an object schema with no required property.
fn requires_no_field(body: &RequestBody, components: Option<&Components>) -> bool {
    let Some(content) = body.content.get("application/json") else {
        return false;
    };
    let schema = match &content.schema {
        Some(RefOr::T(schema)) => Some(schema),
        Some(RefOr::Ref(reference)) => reference
            .ref_location
            .strip_prefix("#/components/schemas/")
            .and_then(|name| components?.schemas.get(name))
            .and_then(|schema| match schema {
                RefOr::T(schema) => Some(schema),
                RefOr::Ref(_) => None,
            }),
        None => None,
    };
    matches!(schema, Some(Schema::Object(object)) if object.required.is_empty())
}

/// The document is public: it describes the API, it holds no data.
pub async fn openapi_json(
    document: Arc<utoipa::openapi::OpenApi>,
) -> Json<Arc<utoipa::openapi::OpenApi>> {
    Json(document)
}
