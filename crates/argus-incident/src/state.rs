//! State changes of an incident (filled in below).
