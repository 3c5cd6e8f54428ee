//! Trust: the roots a policy trusts ([`roots`]), the public keys and
//! certificates they hold ([`keys`]), the PEM and DER those are written
//! in ([`der`]), and how a keyless `urlPrefix` is read ([`url_prefix`]).

pub(crate) mod der;
pub mod keys;
pub(crate) mod roots;
pub(crate) mod url_prefix;
