//! Integration tests: the real server, real HTTP, both stores.
