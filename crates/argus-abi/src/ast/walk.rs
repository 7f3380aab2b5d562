//! One walk over a function's (or modifier's) body, reduced to what the
//! analysis needs: the events it emits, whether inline assembly logs, and the
//! declarations it refers to that may be functions run in the same context.

use serde_json::Value;

/// A reference to a declaration from inside a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ref {
    pub(crate) id: i64,
    /// `super.f()`: dispatch starts after the caller's contract.
    pub(crate) is_super: bool,
}

/// The facts of one body.
#[derive(Debug, Clone, Default)]
pub(crate) struct Body {
    /// Ids of the `EventDefinition`s emitted.
    pub(crate) events: Vec<i64>,
    /// Inline assembly with `log0`..`log4`.
    pub(crate) assembly_log: bool,
    pub(crate) refs: Vec<Ref>,
}

impl Body {
    pub(crate) fn merge(&mut self, other: Body) {
        self.events.extend(other.events);
        self.assembly_log |= other.assembly_log;
        self.refs.extend(other.refs);
    }
}

/// Deepest nesting walked; a deeper tree (no real contract has one) is cut
/// there rather than overflowing the stack.
const MAX_DEPTH: usize = 400;

pub(crate) fn reduce_body(node: &Value) -> Body {
    let mut body = Body::default();
    visit(node, &mut body, 0);
    body
}

fn is_log(name: &str) -> bool {
    matches!(name, "log0" | "log1" | "log2" | "log3" | "log4")
}

fn visit(node: &Value, body: &mut Body, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    match node {
        Value::Array(items) => {
            for item in items {
                visit(item, body, depth + 1);
            }
        }
        Value::Object(map) => {
            match map.get("nodeType").and_then(Value::as_str) {
                Some("EmitStatement") => {
                    if let Some(id) = map
                        .get("eventCall")
                        .and_then(|c| c.get("expression"))
                        .and_then(|e| e.get("referencedDeclaration"))
                        .and_then(Value::as_i64)
                    {
                        body.events.push(id);
                    } else {
                        // An emit whose event cannot be named still emits.
                        body.events.push(-1);
                    }
                }
                Some("YulFunctionCall") => {
                    let name = map
                        .get("functionName")
                        .and_then(|n| n.get("name"))
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    if is_log(name) {
                        body.assembly_log = true;
                    }
                }
                Some("InlineAssembly") => {
                    // Compilers before 0.6 keep the assembly as text.
                    if let Some(operations) = map.get("operations").and_then(Value::as_str)
                        && ["log0(", "log1(", "log2(", "log3(", "log4("]
                            .iter()
                            .any(|l| operations.contains(l))
                    {
                        body.assembly_log = true;
                    }
                }
                Some("Identifier") => {
                    if let Some(id) = map.get("referencedDeclaration").and_then(Value::as_i64)
                        && id >= 0
                    {
                        body.refs.push(Ref {
                            id,
                            is_super: false,
                        });
                    }
                }
                Some("MemberAccess") => {
                    let expression = map.get("expression").unwrap_or(&Value::Null);
                    let base_name = expression
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    let base_type = expression
                        .get("typeDescriptions")
                        .and_then(|t| t.get("typeString"))
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    let is_super = base_name == "super";
                    // `token.f()` on a contract instance is an external call:
                    // its events are the other contract's. `this.f()` is ours.
                    let external = base_type.starts_with("contract ") && base_name != "this";
                    if let Some(id) = map.get("referencedDeclaration").and_then(Value::as_i64)
                        && id >= 0
                        && !external
                    {
                        body.refs.push(Ref { id, is_super });
                    }
                    visit(expression, body, depth + 1);
                    return;
                }
                _ => {}
            }
            for (key, value) in map {
                if value.is_object() || value.is_array() {
                    // Type names and documentation hold no code.
                    if matches!(
                        key.as_str(),
                        "typeDescriptions" | "typeName" | "documentation"
                    ) {
                        continue;
                    }
                    visit(value, body, depth + 1);
                }
            }
        }
        _ => {}
    }
}
