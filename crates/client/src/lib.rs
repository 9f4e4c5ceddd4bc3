//! pgscram-client: being written.
