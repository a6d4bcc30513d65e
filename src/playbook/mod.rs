//! playbook: placeholder, filled by its issue.
