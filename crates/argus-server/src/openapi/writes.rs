//! The write routes' part of `/openapi.json`: each with the role it needs,
//! whether it needs a TOTP code, its JSON body and an example body the
//! route tests post (so the document cannot promise a body the route
//! refuses).

use serde_json::{Value, json};

/// One write route (`POST`).
pub(crate) struct Write {
    pub path: &'static str,
    pub summary: &'static str,
    /// `responder` or `admin`.
    pub role: &'static str,
    /// Needs `X-Argus-Totp`.
    pub totp: bool,
    /// The body's JSON Schema.
    pub body: fn() -> Value,
    /// A body the route accepts.
    pub example: fn() -> Value,
    /// 200 or 201.
    pub status: u16,
    /// What the success body is.
    pub returns: &'static str,
}

fn reason_body() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": { "reason": { "type": "string", "maxLength": 4000 } },
    })
}

pub(crate) const WRITES: &[Write] = &[
    Write {
        path: "/api/incidents/{id}/ack",
        summary: "Acknowledge the incident (stops its escalation timer); the timeline names the token's owner.",
        role: "responder",
        totp: false,
        body: reason_body,
        example: || json!({ "reason": "on it" }),
        status: 200,
        returns: "The incident document, as GET /api/incidents/{id}.",
    },
    Write {
        path: "/api/incidents/{id}/notes",
        summary: "Add a note to the incident's timeline.",
        role: "responder",
        totp: false,
        body: || {
            json!({
                "type": "object",
                "additionalProperties": false,
                "required": ["text"],
                "properties": { "text": { "type": "string", "minLength": 1, "maxLength": 4000 } },
            })
        },
        example: || json!({ "text": "the bridge is paused" }),
        status: 200,
        returns: "The incident document, as GET /api/incidents/{id}.",
    },
    Write {
        path: "/api/incidents/{id}/steps/{step}/approve",
        summary: "Approve a playbook step that needs approvals; it runs when enough distinct owners approved.",
        role: "admin",
        totp: true,
        body: reason_body,
        example: || json!({ "reason": "checked the transaction" }),
        status: 200,
        returns: "The incident document with `approval: {approvals, needed, released}`.",
    },
    Write {
        path: "/api/silences",
        summary: "Silence matching alerts for a time (as `argus alerts silence add`); audited.",
        role: "responder",
        totp: false,
        body: || {
            json!({
                "type": "object",
                "additionalProperties": false,
                "required": ["for", "reason"],
                "properties": {
                    "rule": { "type": "string", "description": "A rule id, or a prefix ending in `*`." },
                    "max_severity": { "type": "string", "enum": ["critical", "high", "medium", "low", "info"] },
                    "chain": { "description": "A chain name or id." },
                    "contract": { "type": "string", "description": "A contract address (the finding's address or contract)." },
                    "for": { "type": "string", "description": "How long: 90m, 2h, 1d." },
                    "reason": { "type": "string" },
                },
            })
        },
        example: || json!({ "rule": "large-transfer", "for": "1h", "reason": "a drill" }),
        status: 201,
        returns: "The silence.",
    },
    Write {
        path: "/api/silences/{id}/end",
        summary: "End a silence now; audited.",
        role: "responder",
        totp: false,
        body: reason_body,
        example: || json!({ "reason": "the drill is over" }),
        status: 200,
        returns: "The silence as it is now.",
    },
    Write {
        path: "/api/bots/{bot}/submissions",
        summary: "A bot reports the transactions it submitted (up to 100 per request), so the daemon's key-use check knows them: a transaction from the bot's wallet that it did not report (nor Argus sign) is critical within its block. `from` must be one of the bot's `wallets`; a hash reported twice is kept once. Not audited.",
        role: "responder",
        totp: false,
        body: || {
            json!({
                "type": "object",
                "additionalProperties": false,
                "required": ["submissions"],
                "properties": {
                    "submissions": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 100,
                        "items": {
                            "type": "object",
                            "required": ["tx_hash", "from"],
                            "properties": {
                                "tx_hash": { "type": "string", "pattern": "^0x[0-9a-fA-F]{64}$" },
                                "from": { "type": "string", "description": "One of the bot's wallets." },
                                "nonce": { "type": "integer", "minimum": 0 },
                                "chain": { "description": "A chain name or id, as the bot names it (shown only)." },
                            },
                        },
                    },
                },
            })
        },
        example: || {
            json!({ "submissions": [{
                "tx_hash": "0x5c504ed432cb51138bcf09aa5e8a410dd4a1e204ef84bfed1be16dfba1b22060",
                "from": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
                "nonce": 7,
                "chain": "anvil",
            }] })
        },
        status: 200,
        returns: "`{bot, received, new}`: how many reports came and how many hashes were new.",
    },
];

/// The OpenAPI operation of `write`.
pub(crate) fn operation(write: &Write, error: &Value) -> Value {
    let params: Vec<Value> = ["id", "step", "bot"]
        .iter()
        .filter(|name| write.path.contains(&format!("{{{name}}}")))
        .map(|name| {
            let mut param = json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } });
            if *name == "bot" {
                param["description"] = json!("A bot of the config's `incidents.bots`.");
                param["example"] = json!("arb");
            }
            param
        })
        .collect();
    let mut parameters = params;
    if write.totp {
        parameters.push(json!({
            "name": "X-Argus-Totp",
            "in": "header",
            "required": true,
            "description": "A current 6-digit TOTP code of the token's owner; a code works once.",
            "schema": { "type": "string", "pattern": "^[0-9]{6}$" },
        }));
    }
    let with = |description: &str| {
        let mut e = error.clone();
        e["description"] = json!(description);
        e
    };
    json!({
        "summary": write.summary,
        "tags": ["write"],
        "x-argus-role": write.role,
        "x-argus-totp": write.totp,
        "security": [{ "bearer": [] }],
        "parameters": parameters,
        "requestBody": {
            "required": false,
            "content": { "application/json": { "schema": (write.body)(), "example": (write.example)() } },
        },
        "responses": {
            write.status.to_string(): { "description": write.returns, "content": { "application/json": { "schema": { "type": "object" } } } },
            "400": with("The body is not JSON, too large (16 KiB), has an unknown field, or a value does not parse."),
            "401": with("`unauthorized` (no valid token), `totp_required` or `totp_invalid`."),
            "403": with(&format!("`forbidden`: this needs the {} role{}.", write.role, if write.totp { " and a token with TOTP enrolled" } else { "" })),
            "404": with("Nothing has this id."),
            "409": with("`conflict`: not in this state (acknowledged already, approved already by this owner…)."),
            "429": with("`rate_limited`; see Retry-After."),
            "503": with("`read_only` (`argus serve` does not write), `totp_unavailable`, or the store is busy."),
        },
    })
}
