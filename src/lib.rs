//! foundation
