/// Pearson correlation of two equally long lists, accumulated in Float64: tests' independent reference for
/// "these two volumes agree" (no TomoStore statistics code involved).
public func pearsonCorrelation(_ a: [Float], _ b: [Float]) -> Double {
    precondition(a.count == b.count && !a.isEmpty, "pearsonCorrelation needs two equally long, non-empty lists")
    let (x, y) = (a.map(Double.init), b.map(Double.init))
    let (mx, my) = (x.reduce(0, +) / Double(x.count), y.reduce(0, +) / Double(y.count))
    let sxy = zip(x, y).map { ($0 - mx) * ($1 - my) }.reduce(0, +)
    let sxx = x.map { ($0 - mx) * ($0 - mx) }.reduce(0, +)
    let syy = y.map { ($0 - my) * ($0 - my) }.reduce(0, +)
    return sxy / (sxx * syy).squareRoot()
}
