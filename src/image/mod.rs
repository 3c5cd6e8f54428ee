//! Images: references and their one spelling per registry ([`reference`]),
//! and the `namePattern`s that match them ([`pattern`]).

pub mod pattern;
pub mod reference;
