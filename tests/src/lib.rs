//! # me2b-tests: end-to-end tests across real processes
//!
//! This crate will start real `me2b daemon` processes with their own data directories on
//! loopback and drive them through the CLI and the HTTP API. Until the daemon exists, the
//! protocol's behaviour is tested in `proto/tests/`, one file per scenario.
