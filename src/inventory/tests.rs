//! Unit tests of the inventory API: precedence, patterns, errors (beside the code, no oracle).
