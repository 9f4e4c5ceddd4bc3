//! pgscram-auth: being written.
