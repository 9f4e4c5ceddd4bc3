//! pgscram-wire: being written.
