//! Trust: the roots a policy trusts ([`roots`]), the public keys and
//! certificates they hold ([`keys`]), and the PEM and DER those are written
//! in ([`der`]).

pub(crate) mod der;
pub mod keys;
pub(crate) mod roots;
