/// A counter-based random generator: every value is a pure function of (seed, stream, counter), so
/// values can be drawn in any order, on any thread, and always come out the same. The mixing
/// function is SplitMix64's finalizer applied to a Weyl sequence (Steele, Lea & Flood 2014).
public struct CounterRNG: Sendable {
    /// The seed that keys every value.
    public let seed: UInt64

    public init(seed: UInt64) { self.seed = seed }

    /// 64 random bits for (stream, counter).
    @inlinable
    public func bits(stream: UInt64 = 0, counter: UInt64) -> UInt64 {
        var z = seed &+ 0x9E37_79B9_7F4A_7C15 &* (counter &+ 1) &+ Self.mix(stream &+ 0xD1B5_4A32_D192_ED03)
        z = Self.mix(z)
        return Self.mix(z ^ seed)
    }

    /// A uniform Double in [0, 1) with 53 random bits.
    @inlinable
    public func uniform(stream: UInt64 = 0, counter: UInt64) -> Double {
        Double(bits(stream: stream, counter: counter) >> 11) * 0x1.0p-53
    }

    /// A standard normal Double (Box–Muller on two uniforms drawn at counters 2·counter and 2·counter+1).
    @inlinable
    public func normal(stream: UInt64 = 0, counter: UInt64) -> Double {
        let u1 = 1 - uniform(stream: stream, counter: 2 &* counter)  // (0, 1]
        let u2 = uniform(stream: stream, counter: 2 &* counter &+ 1)
        return (-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2)
    }

    /// SplitMix64's 64-bit finalizer.
    @inlinable
    public static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

#if canImport(Glibc)
    import Glibc
    @usableFromInline func _log(_ x: Double) -> Double { Glibc.log(x) }
    @usableFromInline func _cos(_ x: Double) -> Double { Glibc.cos(x) }
#elseif canImport(Darwin)
    import Darwin
    @usableFromInline func _log(_ x: Double) -> Double { Darwin.log(x) }
    @usableFromInline func _cos(_ x: Double) -> Double { Darwin.cos(x) }
#endif
