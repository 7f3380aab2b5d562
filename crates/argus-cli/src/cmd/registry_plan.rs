//! `argus registry plan`: a deterministic deployment registered before it
//! exists. The address is computed from how it will be deployed (`CREATE`
//! from a deployer and nonce, `CREATE2` through a factory, CreateX's
//! `CREATE2`/`CREATE3` with its salt guards) or given; the entry is filed
//! at once (so the rules bind to it) with the runtime code hash expected
//! there. `argus run` then reads the address each block: code appearing is
//! an alert, code with another hash a critical one.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use alloy_json_abi::JsonAbi;
use alloy_primitives::{Address, B256, Bytes, keccak256};
use anyhow::{Context as _, bail};
use argus_core::file::{MAX_IMPORT_BYTES, read_to_string_capped};
use argus_core::{ChainId, parse_address};
use argus_registry::derive::{CREATE2_DEPLOYER, Derivation};
use argus_registry::onchain::{PlanRequest, Planned};
use argus_registry::{Scope, validate_label};
use serde_json::{Value, json};

use crate::{GlobalArgs, output};

/// Which CreateX function will deploy it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum CreatexKind {
    Create2,
    Create3,
}

#[derive(Debug, clap::Args)]
pub(crate) struct PlanArgs {
    /// The chain (name or id) it will be deployed on.
    #[arg(long)]
    chain: String,
    /// Its label in the registry.
    #[arg(long)]
    label: String,
    /// `CREATE`: the deploying account (with --nonce).
    #[arg(long, requires = "nonce", conflicts_with_all = ["create2", "createx", "address"])]
    deployer: Option<String>,
    /// `CREATE`: the deployer's nonce at the deployment.
    #[arg(long, requires = "deployer")]
    nonce: Option<u64>,
    /// `CREATE2` through --factory (default: the deterministic deployer
    /// 0x4e59b44847b379578588920ca78fbf26c0b4956c) with --salt and the init
    /// code (--init-code-hash, --init-code, or --artifact's bytecode).
    #[arg(long, requires = "salt", conflicts_with_all = ["createx", "address"])]
    create2: bool,
    /// The `CREATE2` factory (one that passes the salt through unchanged).
    #[arg(long, requires = "create2")]
    factory: Option<String>,
    /// CreateX's `deployCreate2*` or `deployCreate3*`, with --salt and
    /// --sender (the account calling CreateX; its salt guards apply).
    #[arg(long, value_enum, requires_all = ["salt", "sender"], conflicts_with = "address")]
    createx: Option<CreatexKind>,
    /// The account that will call CreateX.
    #[arg(long, requires = "createx")]
    sender: Option<String>,
    /// The 32-byte salt (hex).
    #[arg(long)]
    salt: Option<String>,
    /// keccak256 of the init code (creation code and constructor arguments).
    #[arg(long, conflicts_with = "init_code")]
    init_code_hash: Option<String>,
    /// The init code: hex, or a file holding it.
    #[arg(long)]
    init_code: Option<String>,
    /// An address computed elsewhere.
    #[arg(long)]
    address: Option<String>,
    /// keccak256 of the runtime code expected at the address.
    #[arg(long, conflicts_with = "artifact")]
    code_hash: Option<String>,
    /// A Foundry or Hardhat artifact: its ABI, its runtime code's hash as
    /// the expected one, and its creation code as the init code when none is
    /// given (only right without constructor arguments). Immutables make the
    /// deployed code differ from the artifact's; give --code-hash then.
    #[arg(long, value_name = "FILE")]
    artifact: Option<PathBuf>,
    /// Take the ABI of this registry entry (artifact or deployment).
    #[arg(long, value_name = "LABEL", conflicts_with = "artifact")]
    abi_from: Option<String>,
    /// Tag the entry (repeatable).
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// Accept chain ids alloy does not know (private networks).
    #[arg(long)]
    allow_unknown_chain: bool,
    /// Print the plan as JSON.
    #[arg(long)]
    json: bool,
}

/// What an artifact gives a plan.
#[derive(Debug, Default)]
struct ArtifactParts {
    abi: Option<JsonAbi>,
    runtime: Option<Bytes>,
    creation: Option<Bytes>,
}

pub(crate) fn plan(global: &GlobalArgs, args: PlanArgs) -> anyhow::Result<ExitCode> {
    let chain = ChainId::parse(&args.chain, args.allow_unknown_chain)?;
    validate_label(&args.label)?;
    let artifact = match &args.artifact {
        Some(path) => read_artifact(path)?,
        None => ArtifactParts::default(),
    };
    let init_code_hash = || -> anyhow::Result<B256> {
        if let Some(hash) = &args.init_code_hash {
            return hash32("--init-code-hash", hash);
        }
        if let Some(code) = &args.init_code {
            return Ok(keccak256(init_code(code)?));
        }
        if let Some(creation) = &artifact.creation {
            return Ok(keccak256(creation));
        }
        bail!("give the init code: --init-code-hash, --init-code, or --artifact")
    };
    let salt =
        || -> anyhow::Result<B256> { hash32("--salt", args.salt.as_deref().unwrap_or_default()) };
    let derivation = if let (Some(deployer), Some(nonce)) = (&args.deployer, args.nonce) {
        Derivation::Create {
            deployer: address("--deployer", deployer)?,
            nonce,
        }
    } else if args.create2 {
        Derivation::Create2 {
            factory: match &args.factory {
                Some(factory) => address("--factory", factory)?,
                None => CREATE2_DEPLOYER,
            },
            salt: salt()?,
            init_code_hash: init_code_hash()?,
        }
    } else if let Some(kind) = args.createx {
        let sender = address("--sender", args.sender.as_deref().unwrap_or_default())?;
        match kind {
            CreatexKind::Create2 => Derivation::CreatexCreate2 {
                sender,
                chain_id: chain.0,
                salt: salt()?,
                init_code_hash: init_code_hash()?,
            },
            CreatexKind::Create3 => Derivation::CreatexCreate3 {
                sender,
                chain_id: chain.0,
                salt: salt()?,
            },
        }
    } else if let Some(given) = &args.address {
        Derivation::Given {
            address: address("--address", given)?,
        }
    } else {
        bail!(
            "say how it will be deployed: --deployer and --nonce, --create2 with --salt, \
             --createx create2|create3 with --sender and --salt, or --address"
        );
    };
    let planned_address = derivation.address()?;
    let expected_code_hash = match (&args.code_hash, &artifact.runtime) {
        (Some(hash), _) => Some(hash32("--code-hash", hash)?),
        (None, Some(runtime)) if !runtime.is_empty() => Some(keccak256(runtime)),
        _ => None,
    };
    let mut registry = crate::stores::registry(&global.data_dir)?;
    let abi = match (&artifact.abi, &args.abi_from) {
        (Some(abi), _) => abi.clone(),
        (None, Some(label)) => {
            registry
                .find(label, Scope::Chain(chain))
                .or_else(|_| registry.find(label, Scope::Artifacts))
                .with_context(|| format!("--abi-from {label}"))?
                .abi
        }
        (None, None) => JsonAbi::new(),
    };
    let planned = registry.plan(&PlanRequest {
        chain,
        address: planned_address,
        label: args.label.clone(),
        tags: args.tags.iter().cloned().collect::<BTreeSet<_>>(),
        abi,
        derivation: serde_json::to_value(&derivation)?,
        expected_code_hash,
    })?;
    if args.json {
        output::json_pretty(&planned_json(&planned))?;
    } else {
        sh_println!(
            "planned {} at {} on {} ({}); expected code hash {}",
            output::escaped(&planned.label),
            planned.address.to_checksum(None),
            chain.name(),
            describe(&derivation),
            planned.expected_code_hash.map_or_else(
                || "none (any code is alerted as high)".to_owned(),
                |h| h.to_string()
            )
        )?;
    }
    if expected_code_hash.is_none() {
        sh_eprintln!(
            "note: no expected code hash (--code-hash or --artifact): code appearing there is \
             alerted, but cannot be judged"
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A plan as JSON (also `registry list --json`'s `planned`).
pub(crate) fn planned_json(planned: &Planned) -> Value {
    json!({
        "label": planned.label,
        "chain_id": planned.chain.0,
        "chain": planned.chain.name(),
        "address": planned.address.to_checksum(None),
        "status": planned.status,
        "derivation": planned.derivation,
        "expected_code_hash": planned.expected_code_hash,
        "seen_block_number": planned.seen_block_number,
        "seen_code_hash": planned.seen_code_hash,
    })
}

fn describe(derivation: &Derivation) -> String {
    match derivation {
        Derivation::Create { deployer, nonce } => {
            format!("CREATE by {} at nonce {nonce}", deployer.to_checksum(None))
        }
        Derivation::Create2 { factory, salt, .. } => {
            format!(
                "CREATE2 through {} with salt {salt}",
                factory.to_checksum(None)
            )
        }
        Derivation::CreatexCreate2 { sender, salt, .. } => format!(
            "CreateX CREATE2 sent by {} with salt {salt}",
            sender.to_checksum(None)
        ),
        Derivation::CreatexCreate3 { sender, salt, .. } => format!(
            "CreateX CREATE3 sent by {} with salt {salt}",
            sender.to_checksum(None)
        ),
        Derivation::Given { .. } => "address given".to_owned(),
    }
}

fn address(flag: &str, text: &str) -> anyhow::Result<Address> {
    parse_address(text).with_context(|| flag.to_owned())
}

fn hash32(flag: &str, text: &str) -> anyhow::Result<B256> {
    text.trim()
        .parse::<B256>()
        .map_err(|_| anyhow::anyhow!("{flag}: expected 32 bytes of hex (0x + 64 digits)"))
}

/// Init code given as hex, or as a file holding hex.
fn init_code(text: &str) -> anyhow::Result<Bytes> {
    let trimmed = text.trim();
    let hex_text = if trimmed.starts_with("0x") || !Path::new(trimmed).exists() {
        trimmed.to_owned()
    } else {
        read_to_string_capped(Path::new(trimmed), MAX_IMPORT_BYTES, "init code file")?
    };
    hex_text
        .trim()
        .parse::<Bytes>()
        .map_err(|_| anyhow::anyhow!("--init-code: not hex, and not a file holding hex"))
}

/// The ABI, runtime and creation code of a Foundry (`deployedBytecode.object`)
/// or Hardhat (`deployedBytecode` as a string) artifact.
fn read_artifact(path: &Path) -> anyhow::Result<ArtifactParts> {
    let text = read_to_string_capped(path, MAX_IMPORT_BYTES, "artifact")?;
    let value: Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: not JSON", output::escaped(path.display().to_string())))?;
    let code = |key: &str| -> anyhow::Result<Option<Bytes>> {
        let field = match value.get(key) {
            Some(Value::String(text)) => Some(text.as_str()),
            Some(Value::Object(map)) => map.get("object").and_then(Value::as_str),
            _ => None,
        };
        field
            .map(|text| {
                text.parse::<Bytes>().with_context(|| {
                    format!(
                        "{}: `{key}` is not hex (unlinked libraries?)",
                        output::escaped(path.display().to_string())
                    )
                })
            })
            .transpose()
    };
    let abi = match value.get("abi") {
        Some(abi) => Some(
            serde_json::from_value::<JsonAbi>(abi.clone()).with_context(|| {
                format!(
                    "{}: `abi` is not an ABI",
                    output::escaped(path.display().to_string())
                )
            })?,
        ),
        None => None,
    };
    Ok(ArtifactParts {
        abi,
        runtime: code("deployedBytecode")?,
        creation: code("bytecode")?,
    })
}
