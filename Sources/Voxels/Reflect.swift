/// scipy.ndimage's `mode="reflect"` border (half-sample symmetric: d c b a | a b c d | d c b a):
/// the index inside [0, n) that an index `i`, however far outside, mirrors to.
@inlinable
public func reflectIndex(_ i: Int, _ n: Int) -> Int {
    if i >= 0 && i < n { return i }
    if n == 1 { return 0 }
    let period = 2 * n
    var m = i % period
    if m < 0 { m += period }
    return m < n ? m : period - 1 - m
}
