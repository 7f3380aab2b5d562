//! argus-rules (being written).
