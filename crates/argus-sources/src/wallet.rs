//! `wallets`: the bots' balances (`wallet_balance`, in ether), read through
//! the nodes of the chain they live on.

use std::collections::BTreeMap;
use std::time::Duration;

use alloy_primitives::Address;
use argus_chain::{BlockId, ChainSetup, RpcPool};
use argus_core::ChainId;
use serde::Deserialize;

use crate::{Source, SourceContext, signal};

/// `{ name: arb-1, address: "0x…", chain: mainnet, every: 30s }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalletProbe {
    /// The `wallet` label.
    pub name: String,
    pub address: String,
    /// A chain of `chains:`; may be left out when there is only one.
    #[serde(default)]
    pub chain: Option<String>,
    #[serde(
        default = "thirty_s",
        deserialize_with = "argus_core::duration::deserialize"
    )]
    pub every: Duration,
}

fn thirty_s() -> Duration {
    Duration::from_secs(30)
}

impl WalletProbe {
    /// The address and the chain among `chains`, or what is wrong.
    pub fn resolve(&self, chains: &[ChainId]) -> Result<(Address, ChainId), String> {
        let address = argus_core::parse_address(&self.address).map_err(|e| e.to_string())?;
        let chain = match &self.chain {
            Some(text) => {
                let chain = ChainId::parse(text, true).map_err(|e| e.to_string())?;
                if !chains.contains(&chain) {
                    return Err(format!(
                        "chain {} is not one of `chains:`; the wallet is read through its nodes",
                        chain.name()
                    ));
                }
                chain
            }
            None => match chains {
                [only] => *only,
                _ => {
                    return Err("say which chain (`chain:`): the config follows several".into());
                }
            },
        };
        Ok((address, chain))
    }

    /// Reads the balance every `every`; `None` when the wallet names no
    /// chain of `chains` (the config loader reports that).
    pub fn build(&self, chains: &[ChainSetup], context: &SourceContext) -> Option<Source> {
        let ids: Vec<ChainId> = chains.iter().map(ChainSetup::chain).collect();
        let (address, chain) = self
            .resolve(&ids)
            .map_err(|problem| tracing::warn!("wallet {} is not read: {problem}", self.name))
            .ok()?;
        let setup = chains.iter().find(|c| c.chain() == chain)?;
        let labels = BTreeMap::from([
            ("chain".to_owned(), chain.name()),
            ("wallet".to_owned(), self.name.clone()),
            ("address".to_owned(), format!("{address:#x}")),
        ]);
        let pool = setup
            .connect()
            .map_err(|error| tracing::warn!("wallet {}: {error}", self.name))
            .ok();
        let clock = context.clock.clone();
        Some(Source::signals(
            format!("wallet {}", self.name),
            self.every,
            move || {
                let pool = pool.clone();
                let labels = labels.clone();
                let clock = clock.clone();
                async move {
                    let Some(pool) = pool else {
                        return Vec::new();
                    };
                    match balance_in_ether(&pool, address).await {
                        Ok(ether) => vec![signal(&clock, "wallet_balance", ether, &labels)],
                        Err(error) => {
                            tracing::warn!("balance of {}: {error}", labels["wallet"]);
                            Vec::new()
                        }
                    }
                }
            },
        ))
    }
}

/// A balance in ether (as a float: thresholds, not accounting).
async fn balance_in_ether(pool: &RpcPool, address: Address) -> Result<f64, String> {
    let wei = pool
        .balance(address, BlockId::Latest)
        .await
        .map_err(|e| e.to_string())?;
    let wei: f64 = wei
        .to_string()
        .parse()
        .map_err(|_| "a balance beyond f64".to_owned())?;
    Ok(wei / 1e18)
}
