//! facts: placeholder, filled by its issue.
