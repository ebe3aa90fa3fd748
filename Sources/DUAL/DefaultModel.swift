import Foundation

/// The DUAL model shipped with TomoStore (a SwiftPM resource), when this build has one.
public enum DefaultModel {
    /// Location of `default.safetensors`, or nil.
    public static var url: URL? {
        Bundle.module.url(forResource: "default", withExtension: "safetensors")
    }
}
