//! CLI flags and config file, validated into a plain value.
