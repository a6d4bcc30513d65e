//! runner: placeholder, filled by its issue.
