//! vars: placeholder, filled by its issue.
