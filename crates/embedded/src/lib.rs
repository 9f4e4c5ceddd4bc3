//! pgscram-embedded: being written.
