//! argus-chain (being written).
