//! pgscram-server: being written.
