//! inventory: placeholder, filled by its issue.
