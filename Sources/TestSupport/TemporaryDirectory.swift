import Foundation

/// A fresh directory under the system's temporary directory, removed with everything in it when the
/// last reference goes away. For tests.
public final class TemporaryDirectory: Sendable {
    /// The directory's path.
    public let path: String

    /// Creates `…/tomostore-<label>-<pid>-<random>`.
    public init(_ label: String = "test") throws {
        path = NSTemporaryDirectory() + "tomostore-\(label)-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// A path inside the directory.
    public func appending(_ name: String) -> String { path + "/" + name }
}
