//! argus-alerting (being written).
