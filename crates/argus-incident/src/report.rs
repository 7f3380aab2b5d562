//! Incident reports (filled in below).
