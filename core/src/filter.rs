//! Placeholder: filled in by this module's owner.
