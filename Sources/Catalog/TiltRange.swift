import Store

/// A tilt range in degrees (−90…90, min < max), as `MIN:MAX` text (a third `:STEP` field, as synth
/// writes it, is allowed and ignored) or recorded in a dataset's attributes `tilt_min`, `tilt_max`.
public struct TiltRange: Hashable, Sendable {
    public var min: Double, max: Double

    /// The default when nothing records one: ±60°.
    public static let standard = TiltRange(min: -60, max: 60)

    public init(min: Double, max: Double) {
        self.min = min
        self.max = max
    }

    /// A range from two recorded values, or nil when either is missing or they make no range.
    public init?(checking lo: Double?, _ hi: Double?) {
        guard let lo, let hi, lo >= -90, hi <= 90, lo < hi else { return nil }
        self.init(min: lo, max: hi)
    }

    /// Parses `MIN:MAX` or `MIN:MAX:STEP`; nil when it is not a range within −90…90 with MIN < MAX.
    public init?(parsing text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map { Double($0) }
        guard (2...3).contains(parts.count), let lo = parts[0], let hi = parts[1] else { return nil }
        self.init(checking: lo, hi)
    }

    /// The range recorded in a dataset's attributes (tilt_min, tilt_max, as synth and `ingest --attr` write them).
    public init?(attributes: [String: JSONValue]) {
        func number(_ key: String) -> Double? {
            switch attributes[key] {
            case .number(let v)?: return v
            case .string(let s)?: return Double(s)
            default: return nil
            }
        }
        self.init(checking: number("tilt_min"), number("tilt_max"))
    }

    /// `MIN:MAX`, integers without a decimal point.
    public var text: String { "\(Self.format(min)):\(Self.format(max))" }

    /// A degree value as it is written in attributes and model metadata.
    public static func format(_ v: Double) -> String { v == v.rounded() ? String(Int(v)) : String(v) }

    /// The one range `attributes` record (ranges of several datasets must agree), else `standard`.
    /// - Throws: `CatalogError.tiltRangesDiffer` when they record different ranges.
    public static func recorded(in attributes: [[String: JSONValue]]) throws -> TiltRange {
        let recorded = Set(attributes.compactMap { TiltRange(attributes: $0) })
        guard recorded.count <= 1 else { throw CatalogError.tiltRangesDiffer(recorded.map(\.text).sorted()) }
        return recorded.first ?? .standard
    }
}
