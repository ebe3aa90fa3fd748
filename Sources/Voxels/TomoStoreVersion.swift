/// The software version written into files and catalogs.
public enum TomoStoreVersion {
    /// Semantic version of this build of TomoStore.
    public static let string = "0.1.0"
}
