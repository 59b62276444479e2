//! The OpenAPI 3.1 document, generated from the operations each handler module registers with
//! its handlers, with component schemas generated from the Rust types (JSON Schema 2020-12, as
//! OpenAPI 3.1 uses); and the endpoint that serves it.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::handler::Handler;
use axum::routing::{on, MethodFilter};
use axum::Router;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{json, Map, Value};

use super::extract::only_declared_query;
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

/// Writes a type's schema into a generator and answers the reference to it.
type SchemaFn = fn(&mut SchemaGenerator) -> Value;

/// What a request body is.
#[derive(Clone, Copy)]
enum Body {
    /// JSON of the type whose schema the function writes.
    Json(SchemaFn),
    /// Raw bytes of any accepted media type.
    Raw,
}

/// What one operation documents; its schemas are generated when [`ApiBuilder::route`]
/// registers it.
pub struct Operation {
    verb: Verb,
    path: &'static str,
    summary: &'static str,
    success: u16,
    request: Option<Body>,
    response: Option<SchemaFn>,
    query: &'static [&'static str],
    authenticated: bool,
}

impl Operation {
    /// An operation answering `success` with no documented body yet.
    pub const fn new(verb: Verb, path: &'static str, summary: &'static str, success: u16) -> Self {
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
    pub const fn json_body<T: JsonSchema>(mut self) -> Self {
        self.request = Some(Body::Json(schema_ref::<T>));
        self
    }

    /// A raw request body of any accepted media type.
    pub const fn raw_body(mut self) -> Self {
        self.request = Some(Body::Raw);
        self
    }

    /// A JSON answer of type `T`.
    pub const fn answers<T: JsonSchema>(mut self) -> Self {
        self.response = Some(schema_ref::<T>);
        self
    }

    /// Query parameters it accepts.
    pub const fn query(mut self, names: &'static [&'static str]) -> Self {
        self.query = names;
        self
    }

    /// Needs no bearer token.
    pub const fn public(mut self) -> Self {
        self.authenticated = false;
        self
    }

    /// The operation's document, its schemas written into `generator`.
    fn document(&self, generator: &mut SchemaGenerator) -> Value {
        // The body's schema first, then the answer's: the order the generator always saw them in.
        let request = self.request.map(|body| match body {
            Body::Json(schema) => ("application/json", schema(generator)),
            Body::Raw => (
                "application/octet-stream",
                json!({ "type": "string", "format": "binary" }),
            ),
        });
        let response = self.response.map(|schema| schema(generator));
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
                    "content": { "application/json": { "schema": response.unwrap_or(json!({})) } }
                },
                "default": {
                    "description": "a contract error",
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
                }
            }
        });
        if let Some((media, schema)) = request {
            operation["requestBody"] =
                json!({ "required": true, "content": { media: { "schema": schema } } });
        }
        if !self.authenticated {
            operation["security"] = json!([]);
        }
        operation
    }
}

/// Writes `T`'s schema into `generator` and answers the reference to it.
fn schema_ref<T: JsonSchema>(generator: &mut SchemaGenerator) -> Value {
    let schema: Schema = generator.subschema_for::<T>();
    schema.to_value()
}

/// Registers routes and documents them in one step, so the document cannot miss a route.
pub struct ApiBuilder {
    router: Router<AppState>,
    paths: BTreeMap<&'static str, Map<String, Value>>,
    /// Generates component schemas; shared by every operation.
    generator: SchemaGenerator,
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
        let mut method = on(operation.verb.filter(), handler);
        if operation.authenticated {
            // The parameters it documents are the ones it takes (plus `min_position` on reads).
            let (declared, read) = (operation.query, operation.verb == Verb::Get);
            method = method.layer(axum::middleware::from_fn(move |request, next| {
                only_declared_query(declared, read, request, next)
            }));
        }
        self.router = self.router.route(operation.path, method);
        self.paths.entry(operation.path).or_default().insert(
            operation.verb.key().to_owned(),
            operation.document(&mut self.generator),
        );
        self
    }

    /// Adds the routes `add` registers, e.g. one handler module's `routes`.
    pub fn include(self, add: fn(Self) -> Self) -> Self {
        add(self)
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

/// This endpoint's routes.
pub(super) fn routes(api: ApiBuilder) -> ApiBuilder {
    api.route(SERVE, serve)
}

/// The operation [`serve`] serves.
const SERVE: Operation = Operation::new(Verb::Get, "/openapi.json", "This document", 200).public();

/// `GET /v1/openapi.json`: this document.
async fn serve(State(state): State<AppState>) -> axum::Json<Value> {
    axum::Json(state.openapi.as_ref().clone())
}
