//! The lint report in the forms people and tools read: text for a terminal,
//! JSON for scripts, SARIF for code-scanning services.

mod human;
mod json;
mod sarif;

pub use human::render_human;
pub use json::render_json;
pub use sarif::render_sarif;

use crate::interface::Origin;
use crate::lint::Location;

/// How an origin is shown: `Token (anvil 0x5FbD…) out/Token.sol/Token.json`.
pub(crate) fn describe_origin(origin: &Origin, line: Option<u32>) -> String {
    let mut text = origin.label.clone();
    if let (Some(chain), Some(address)) = (origin.chain, origin.address) {
        text.push_str(&format!(
            " ({} {})",
            chain.name(),
            address.to_checksum(None)
        ));
    }
    if let Some(path) = &origin.path {
        let path = path.display().to_string();
        if path != origin.label {
            text.push_str(" · ");
            text.push_str(&path);
        }
        if let Some(line) = line {
            text.push_str(&format!(":{line}"));
        }
    } else if let Some(line) = line {
        text.push_str(&format!(":{line}"));
    }
    text
}

pub(crate) fn location_origin<'a>(
    origins: &'a [Origin],
    location: &Location,
) -> Option<&'a Origin> {
    origins.get(location.origin)
}
