//! Alerts into incidents (filled in below).
