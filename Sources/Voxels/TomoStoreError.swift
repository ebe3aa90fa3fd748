/// An error of one of TomoStore's layers whose `description` is one line a user can act on: what is
/// wrong, where, and what to do. The command line prints it as is and exits with status 1.
public protocol TomoStoreError: Error, CustomStringConvertible, Sendable {}
