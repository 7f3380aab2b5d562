//! Response metrics (filled in below).
