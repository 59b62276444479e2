//! The OpenAPI 3.1 document, generated from the operations each handler module registers with
//! its handlers, with component schemas generated from the Rust types (JSON Schema 2020-12, as
//! OpenAPI 3.1 uses); and the endpoint that serves it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

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

/// Writes a schema into a generator and answers it (or the reference to it).
pub type SchemaFn = fn(&mut SchemaGenerator) -> Value;

/// Lists media types, each with the schema of a body in it.
pub type MediaFn = fn() -> Vec<(&'static str, Value)>;

/// What a query parameter's value may be, as [`Params`](super::extract::Params) reads it.
#[derive(Clone, Copy)]
pub enum ParamSchema {
    /// A whole number from `min` to `max`.
    Integer {
        /// The smallest value accepted.
        min: u64,
        /// The largest value accepted.
        max: u64,
    },
    /// A UUID.
    Uuid,
    /// `true` or `false`.
    Boolean,
    /// Any text.
    Text,
    /// The schema a function writes, e.g. an enumeration's.
    Typed(SchemaFn),
}

impl ParamSchema {
    /// The schema of the Rust type `T` (an enumeration parsed by its `FromStr`).
    pub const fn of<T: JsonSchema>() -> Self {
        ParamSchema::Typed(schema_ref::<T>)
    }

    fn document(self, generator: &mut SchemaGenerator) -> Value {
        match self {
            ParamSchema::Integer { min, max } => {
                json!({ "type": "integer", "minimum": min, "maximum": max })
            }
            ParamSchema::Uuid => json!({ "type": "string", "format": "uuid" }),
            ParamSchema::Boolean => json!({ "type": "boolean" }),
            ParamSchema::Text => json!({ "type": "string" }),
            ParamSchema::Typed(schema) => schema(generator),
        }
    }
}

/// A query parameter an operation takes: its name, its value's schema and what it does.
#[derive(Clone, Copy)]
pub struct QueryParam {
    name: &'static str,
    schema: ParamSchema,
    description: &'static str,
}

impl QueryParam {
    /// A parameter `name` whose value `schema` describes.
    pub const fn new(name: &'static str, schema: ParamSchema, description: &'static str) -> Self {
        QueryParam {
            name,
            schema,
            description,
        }
    }

    /// The parameter's name.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

/// What a request body is.
#[derive(Clone, Copy)]
enum Body {
    /// JSON of the schema the function writes.
    Json(SchemaFn),
    /// `application/x-www-form-urlencoded` fields of the schema the function writes.
    Form(SchemaFn),
    /// Raw bytes in one of the media types the function lists.
    Raw(MediaFn),
}

/// What a success answer carries.
#[derive(Clone, Copy)]
enum Answer {
    /// JSON of the schema the function writes.
    Json(SchemaFn),
    /// Bytes in one of the media types the function lists.
    Raw(MediaFn),
}

/// The contract's error statuses: the shared response's name, when it is answered, and the
/// error codes it carries (contract section 4).
const ERRORS: [(u16, &str, &str, &[&str]); 9] = [
    (
        400,
        "BadRequest",
        "A malformed request: an undocumented or invalid query parameter, a path id that is not a UUID, a body that is not a JSON object of the documented fields, an invalid field value",
        &["invalid_request"],
    ),
    (
        401,
        "Unauthenticated",
        "No valid credentials: a missing, unknown or revoked token, or a webhook call its provider did not sign",
        &["unauthenticated"],
    ),
    (
        403,
        "Forbidden",
        "The caller may not do this: staff without `send_messages`, a role the endpoint is not for, or the rules on who may start a conversation",
        &["missing_permission", "conversation_rule", "forbidden"],
    ),
    (
        404,
        "NotFound",
        "The target (or an id the body names) does not exist, or the caller may not see it",
        &["not_found"],
    ),
    (
        409,
        "Conflict",
        "A doctor's open conversation with the patient exists (its id in `conversation_id`), the message was filed already, a scheduled message is no longer pending (`not_pending`), or concurrent writers outlasted the retries",
        &["conversation_exists", "concurrency_conflict", "not_pending"],
    ),
    (
        413,
        "TooLarge",
        "The request body, or a file against the channel's limits, is too large",
        &["attachment_too_large", "payload_too_large"],
    ),
    (
        415,
        "UnsupportedMediaType",
        "The body's `Content-Type` is not one the operation takes, or a file's bytes are not the type it declares",
        &["unsupported_media_type"],
    ),
    (
        422,
        "Unprocessable",
        "The patient's record or the caller's role does not allow the channel now, the channel carries no attachments, or the patient was erased (`patient_erased`: every write naming it is refused)",
        &["channel_unavailable", "attachments_not_allowed", "patient_erased"],
    ),
    (
        503,
        "Unavailable",
        "The read models have not reached `min_position` (`not_caught_up`), a dependency is unreachable, or the request outlasted its deadline (`unavailable`)",
        &["not_caught_up", "unavailable"],
    ),
];

/// The statuses every operation may answer: the request deadline's 503.
const ALWAYS: &[u16] = &[503];

/// What one operation documents; its schemas are generated when [`ApiBuilder::route`]
/// registers it.
pub struct Operation {
    verb: Verb,
    path: &'static str,
    summary: &'static str,
    success: u16,
    request: Option<Body>,
    response: Option<Answer>,
    query: &'static [QueryParam],
    errors: &'static [u16],
    security: Security,
    /// A provider calls it, so its query is the provider's to extend.
    provider: bool,
}

/// How an operation's caller is authenticated.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Security {
    /// A hub bearer token, checked by the hub's extractors.
    Token,
    /// By the named security scheme, in the handler.
    Scheme(&'static str),
    /// Not at all.
    Public,
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
            errors: &[],
            security: Security::Token,
            provider: false,
        }
    }

    /// A JSON request body of type `T`.
    pub const fn json_body<T: JsonSchema>(self) -> Self {
        self.json_body_with(schema_ref::<T>)
    }

    /// A JSON request body of the schema `schema` writes.
    pub const fn json_body_with(mut self, schema: SchemaFn) -> Self {
        self.request = Some(Body::Json(schema));
        self
    }

    /// A form-encoded request body of the fields `schema` writes.
    pub const fn form_body(mut self, schema: SchemaFn) -> Self {
        self.request = Some(Body::Form(schema));
        self
    }

    /// A raw request body in one of the media types `media` lists.
    pub const fn raw_body(mut self, media: MediaFn) -> Self {
        self.request = Some(Body::Raw(media));
        self
    }

    /// A JSON answer of type `T`.
    pub const fn answers<T: JsonSchema>(self) -> Self {
        self.answers_with(schema_ref::<T>)
    }

    /// A JSON answer of the schema `schema` writes.
    pub const fn answers_with(mut self, schema: SchemaFn) -> Self {
        self.response = Some(Answer::Json(schema));
        self
    }

    /// An answer of raw bytes in one of the media types `media` lists.
    pub const fn answers_raw(mut self, media: MediaFn) -> Self {
        self.response = Some(Answer::Raw(media));
        self
    }

    /// Query parameters it accepts (reads with a token also take `min_position`).
    pub const fn query(mut self, params: &'static [QueryParam]) -> Self {
        self.query = params;
        self
    }

    /// Error statuses its handler answers beyond those its shape implies (a token: 400, 401,
    /// 403; a path id: 400, 404; a body: 400, 413, and 415 where `Content-Type` is checked; a
    /// write with a token: 409; always 503).
    pub const fn errors(mut self, statuses: &'static [u16]) -> Self {
        self.errors = statuses;
        self
    }

    /// Needs no bearer token.
    pub const fn public(mut self) -> Self {
        self.security = Security::Public;
        self
    }

    /// Authenticated by the security scheme `scheme` (a provider's signature or token) instead
    /// of a hub token; its handler checks it. A provider calls it (see [`Self::called_by_provider`]).
    pub const fn secured_by(mut self, scheme: &'static str) -> Self {
        self.security = Security::Scheme(scheme);
        self.called_by_provider()
    }

    /// Called by a channel provider, which may add query parameters of its own: those it does
    /// not declare are ignored instead of refused.
    pub const fn called_by_provider(mut self) -> Self {
        self.provider = true;
        self
    }

    /// Whether a query parameter it does not take answers 400: every operation but those a
    /// provider calls.
    fn strict_query(&self) -> bool {
        !self.provider
    }

    /// The query parameters it takes: those declared, and `min_position` on every read with a
    /// token. The document lists exactly these, and where the query is strict any other
    /// answers 400.
    fn accepted(&self) -> Vec<QueryParam> {
        let mut params = self.query.to_vec();
        if self.verb == Verb::Get && self.security == Security::Token {
            params.push(super::extract::MIN_POSITION);
        }
        params
    }

    /// The error statuses it may answer.
    fn error_statuses(&self) -> BTreeSet<u16> {
        let mut statuses: BTreeSet<u16> = ALWAYS.iter().chain(self.errors).copied().collect();
        if self.strict_query() {
            statuses.insert(400);
        }
        if self.security == Security::Token {
            statuses.extend([400, 401, 403]);
        }
        if self.path.contains('{') {
            statuses.extend([400, 404]);
        }
        if let Some(body) = self.request {
            statuses.extend([400, 413]);
            // The JSON extractor and raw uploads check `Content-Type`; webhooks read what
            // their provider sends.
            let typed = match body {
                Body::Json(_) => self.security == Security::Token,
                Body::Form(_) => false,
                Body::Raw(_) => true,
            };
            if typed {
                statuses.insert(415);
            }
        }
        if self.verb != Verb::Get && self.security == Security::Token {
            statuses.insert(409);
        }
        statuses
    }

    /// The operation's document, its schemas written into `generator`.
    fn document(&self, generator: &mut SchemaGenerator) -> Value {
        // The body's schema first, then the answer's: the order the generator always saw them in.
        let request: Option<Map<String, Value>> = self.request.map(|body| match body {
            Body::Json(schema) => media("application/json", schema(generator)),
            Body::Form(schema) => media("application/x-www-form-urlencoded", schema(generator)),
            Body::Raw(list) => list()
                .into_iter()
                .map(|(name, schema)| (name.to_owned(), json!({ "schema": schema })))
                .collect(),
        });
        let response: Map<String, Value> = match self.response {
            Some(Answer::Json(schema)) => media("application/json", schema(generator)),
            Some(Answer::Raw(list)) => list()
                .into_iter()
                .map(|(name, schema)| (name.to_owned(), json!({ "schema": schema })))
                .collect(),
            None => media("application/json", json!({})),
        };
        let mut parameters: Vec<Value> = self
            .path
            .split('/')
            .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } }))
            .collect();
        for param in self.accepted() {
            parameters.push(json!({
                "name": param.name,
                "in": "query",
                "required": false,
                "description": param.description,
                "schema": param.schema.document(generator),
            }));
        }
        let mut responses = Map::new();
        responses.insert(
            self.success.to_string(),
            json!({ "description": "success", "content": response }),
        );
        for status in self.error_statuses() {
            let name = error_response(status).1;
            responses.insert(
                status.to_string(),
                json!({ "$ref": format!("#/components/responses/{name}") }),
            );
        }
        let mut operation = json!({
            "summary": self.summary,
            "parameters": parameters,
            "responses": responses,
        });
        if let Some(content) = request {
            operation["requestBody"] = json!({ "required": true, "content": content });
        }
        match self.security {
            Security::Token => {}
            Security::Scheme(scheme) => operation["security"] = json!([{ scheme: [] }]),
            Security::Public => operation["security"] = json!([]),
        }
        operation
    }
}

/// One media type's entry of a `content` map.
fn media(name: &str, schema: Value) -> Map<String, Value> {
    let mut content = Map::new();
    content.insert(name.to_owned(), json!({ "schema": schema }));
    content
}

/// The contract's entry for an error status.
fn error_response(status: u16) -> (u16, &'static str, &'static str, &'static [&'static str]) {
    ERRORS
        .into_iter()
        .find(|(known, ..)| *known == status)
        .unwrap_or_else(|| panic!("{status} is not one of the contract's error statuses"))
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
        if operation.strict_query() {
            // The parameters it documents are the ones it takes.
            let declared: Arc<[&'static str]> =
                operation.accepted().iter().map(QueryParam::name).collect();
            method = method.layer(axum::middleware::from_fn(move |request, next| {
                only_declared_query(declared.clone(), request, next)
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
        schemas.insert("Error".to_owned(), error_schema(None));
        let responses: Map<String, Value> = ERRORS
            .into_iter()
            .map(|(_, name, description, codes)| {
                let content = media("application/json", error_schema(Some(codes)));
                (
                    name.to_owned(),
                    json!({ "description": description, "content": content }),
                )
            })
            .collect();
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
                "responses": responses,
                "securitySchemes": {
                    "bearer": {
                        "type": "http",
                        "scheme": "bearer",
                        "description": "A staff or patient token, or HUB_BOOTSTRAP_ADMIN_TOKEN"
                    },
                    "inbound_email": {
                        "type": "http",
                        "scheme": "bearer",
                        "description": "HUB_INBOUND_EMAIL_TOKEN"
                    },
                    "twilio_signature": {
                        "type": "apiKey",
                        "in": "header",
                        "name": "X-Twilio-Signature",
                        "description": "HMAC-SHA1 of HUB_PUBLIC_URL + path and the sorted form parameters, keyed with the Twilio auth token"
                    },
                    "whatsapp_signature": {
                        "type": "apiKey",
                        "in": "header",
                        "name": "X-Hub-Signature-256",
                        "description": "`sha256=` + hex HMAC-SHA256 of the raw body, keyed with the WhatsApp app secret"
                    }
                }
            },
            "security": [{ "bearer": [] }],
            "paths": paths,
        });
        (self.router, document)
    }
}

/// The error body `{"error": {"code", "message"}}`, its codes restricted to `codes` when given.
fn error_schema(codes: Option<&[&str]>) -> Value {
    let code = match codes {
        Some(codes) => json!({ "type": "string", "enum": codes }),
        None => json!({ "type": "string" }),
    };
    json!({
        "type": "object",
        "required": ["error"],
        "properties": { "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": code,
                "message": { "type": "string", "description": "What to change, for people" },
                "conversation_id": {
                    "type": "string",
                    "format": "uuid",
                    "description": "With `conversation_exists`: the open conversation"
                }
            }
        } }
    })
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
