//! Images: references and their one spelling per registry ([`reference`]),
//! the `namePattern`s that match them ([`pattern`]) and policy-controller's
//! globs ([`glob`]).

pub mod glob;
pub mod pattern;
pub mod reference;
