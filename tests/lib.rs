//! Integration tests live in `integration/`; this crate exists only to host them.
