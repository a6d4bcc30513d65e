//! modules: placeholder, filled by its issue.
