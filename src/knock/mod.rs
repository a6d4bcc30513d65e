//! knock: placeholder, filled by its issue.
