//! The OpenAPI 3.1 document, generated from the same table that registers the routes, with
//! component schemas generated from the Rust types (JSON Schema 2020-12, as OpenAPI 3.1 uses).

use std::collections::BTreeMap;

use axum::handler::Handler;
use axum::routing::{on, MethodFilter};
use axum::Router;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{json, Map, Value};

use super::AppState;

/// The HTTP methods the API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// GET
    Get,
    /// POST
    Post,
    /// PUT
    Put,
    /// PATCH
    Patch,
    /// DELETE
    Delete,
}

impl Verb {
    fn filter(self) -> MethodFilter {
        match self {
            Verb::Get => MethodFilter::GET,
            Verb::Post => MethodFilter::POST,
            Verb::Put => MethodFilter::PUT,
            Verb::Patch => MethodFilter::PATCH,
            Verb::Delete => MethodFilter::DELETE,
        }
    }

    fn key(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::Post => "post",
            Verb::Put => "put",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
        }
    }
}

/// What one operation documents.
pub struct Operation {
    verb: Verb,
    path: &'static str,
    summary: &'static str,
    success: u16,
    request: Option<(&'static str, Value)>,
    response: Option<Value>,
    query: &'static [&'static str],
    authenticated: bool,
}

impl Operation {
    /// An operation answering `success` with no documented body yet.
    pub fn new(verb: Verb, path: &'static str, summary: &'static str, success: u16) -> Self {
        Operation {
            verb,
            path,
            summary,
            success,
            request: None,
            response: None,
            query: &[],
            authenticated: true,
        }
    }

    /// A JSON request body of type `T`.
    pub fn json_body<T: JsonSchema>(mut self, generator: &mut SchemaGenerator) -> Self {
        self.request = Some(("application/json", schema_ref::<T>(generator)));
        self
    }

    /// A raw request body of any accepted media type.
    pub fn raw_body(mut self) -> Self {
        self.request = Some((
            "application/octet-stream",
            json!({ "type": "string", "format": "binary" }),
        ));
        self
    }

    /// A JSON answer of type `T`.
    pub fn answers<T: JsonSchema>(mut self, generator: &mut SchemaGenerator) -> Self {
        self.response = Some(schema_ref::<T>(generator));
        self
    }

    /// Query parameters it accepts.
    pub fn query(mut self, names: &'static [&'static str]) -> Self {
        self.query = names;
        self
    }

    /// Needs no bearer token.
    pub fn public(mut self) -> Self {
        self.authenticated = false;
        self
    }

    fn document(&self) -> Value {
        let mut parameters: Vec<Value> = self
            .path
            .split('/')
            .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } }))
            .collect();
        parameters.extend(self.query.iter().map(|name| {
            json!({ "name": name, "in": "query", "required": false, "schema": { "type": "string" } })
        }));
        let mut operation = json!({
            "summary": self.summary,
            "parameters": parameters,
            "responses": {
                self.success.to_string(): {
                    "description": "success",
                    "content": { "application/json": { "schema": self.response.clone().unwrap_or(json!({})) } }
                },
                "default": {
                    "description": "a contract error",
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
                }
            }
        });
        if let Some((media, schema)) = &self.request {
            operation["requestBody"] =
                json!({ "required": true, "content": { *media: { "schema": schema } } });
        }
        if !self.authenticated {
            operation["security"] = json!([]);
        }
        operation
    }
}

fn schema_ref<T: JsonSchema>(generator: &mut SchemaGenerator) -> Value {
    let schema: Schema = generator.subschema_for::<T>();
    schema.to_value()
}

/// Registers routes and documents them in one step, so the document cannot miss a route.
pub struct ApiBuilder {
    router: Router<AppState>,
    paths: BTreeMap<&'static str, Map<String, Value>>,
    /// Generates component schemas; shared by every operation.
    pub generator: SchemaGenerator,
}

impl Default for ApiBuilder {
    fn default() -> Self {
        let settings = schemars::generate::SchemaSettings::draft2020_12().with(|settings| {
            settings.definitions_path = "/components/schemas".into();
        });
        ApiBuilder {
            router: Router::new(),
            paths: BTreeMap::new(),
            generator: settings.into_generator(),
        }
    }
}

impl ApiBuilder {
    /// Adds a route and its documentation.
    pub fn route<H, T>(mut self, operation: Operation, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.router = self
            .router
            .route(operation.path, on(operation.verb.filter(), handler));
        self.paths
            .entry(operation.path)
            .or_default()
            .insert(operation.verb.key().to_owned(), operation.document());
        self
    }

    /// The router and the OpenAPI document of everything registered, under `prefix`.
    pub fn finish(mut self, prefix: &str) -> (Router<AppState>, Value) {
        let mut schemas: Map<String, Value> =
            self.generator.take_definitions(true).into_iter().collect();
        schemas.insert(
            "Error".to_owned(),
            json!({
                "type": "object",
                "required": ["error"],
                "properties": { "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": { "code": { "type": "string" }, "message": { "type": "string" } }
                } }
            }),
        );
        let paths: Map<String, Value> = self
            .paths
            .into_iter()
            .map(|(path, operations)| (format!("{prefix}{path}"), Value::Object(operations)))
            .collect();
        let document = json!({
            "openapi": "3.1.0",
            "info": {
                "title": "Communication Hub API",
                "version": env!("CARGO_PKG_VERSION"),
                "description": "The HTTP API of the clinic communication hub (contract section 4)."
            },
            "components": {
                "schemas": schemas,
                "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } }
            },
            "security": [{ "bearer": [] }],
            "paths": paths,
        });
        (self.router, document)
    }
}
