//! The watchtower of veritrace: follows submitted results, re-runs them and disputes mismatches.
