//! How much of the settings is proven: all of it when the policy loads (or
//! a ClusterImagePolicy is read from the cluster), less on each request.

/// How much the compilers of every shape prove of what they compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Checks {
    /// Decode every key and certificate and parse every pattern: settings
    /// the policy loads with, and a ClusterImagePolicy read from the cluster
    /// (nobody checked it before).
    Full,
    /// The settings passed [`Checks::Full`] when the policy loaded: the key
    /// material goes to the host as the operator wrote it, and the patterns
    /// are not parsed as image references again.
    Proven,
}
