import Voxels

/// The weight gradient of a Winograd convolution, computed in the Winograd domain.
///
/// The forward pass is exactly y = Σ_tiles Aᵀ·[(G·g·Gᵀ) ⊙ (Bᵀ·d·B)]·A (per axis), so
/// ∂L/∂g = Σ_tiles Gᵀ·[(A·dy·Aᵀ) ⊙ (Bᵀ·d·B)]·G: transform the input tiles as the forward pass does
/// (V), transform the output-gradient tiles by A along z, y and x (dM, t³ values from m³, zero
/// outside the volume), take per point dU[p] (Cout × Cin) = Σ_tiles dM[p] · V[p]ᵀ by sgemm, and
/// bring dU back to 3×3×3 by Gᵀ. 216/64 (F(4,3)) instead of 27 multiply–adds per voxel and channel
/// pair, as for the forward pass.
extension WinogradConvolution {
    /// ∂L/∂w [Cout, Cin, 3, 3, 3] of y = conv(x, w) (3×3×3, stride 1, padding 1; bias and activation
    /// excluded) from x [N, Cin, D, H, W] and dy = ∂L/∂y [N, Cout, D, H, W].
    static func weightGradient(
        _ x: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>, geometry g: ConvGeometry
    ) -> [Float] {
        func run<T: WinogradTiling>(_: T.Type) -> [Float] {
            weightGradient(x, outputGradient: dy, geometry: g, tiling: T.self)
        }
        return run(tiling(for: g))
    }

    static func weightGradient<T: WinogradTiling>(
        _ x: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>,
        geometry g: ConvGeometry, tiling: T.Type
    ) -> [Float] {
        let blocks = Blocks(g, tiling: T.self)
        let points = T.points
        let txp = blocks.txp
        let jobs = blocks.count
        let (cin, cout) = (g.cin, g.cout)
        // Per-thread sums of dU over a fixed, contiguous share of the blocks, added in thread order:
        // the same bytes whatever the scheduling.
        let threads = min(EngineThreads.count, jobs)
        var parts = [[Float]](repeating: [], count: threads)
        parts.withUnsafeMutableBufferPointer { slots in
            Parallel.forEach(threads) { thread in
                var du = [Float](repeating: 0, count: points * cout * cin)
                du.withUnsafeMutableBufferPointer { dub in
                    let dup = dub.baseAddress!
                    Workspace.with { ws in
                        let largest = blocks.rowsPerBlock * txp
                        let v = ws.floats(
                            points * (cin + cout) * largest
                                + max(T.scratchFloats(txp: txp), gradientScratchFloats(m: T.outputTile, txp: txp)))
                        let dm = v + points * cin * largest
                        let scratch = dm + points * cout * largest
                        for job in (thread * jobs / threads)..<((thread + 1) * jobs / threads) {
                            let (sample, iz, rows) = blocks.block(job)
                            let tiles = rows.count * txp
                            let dys = dy + sample * cout * g.outVoxels
                            transformInputs(
                                x + sample * cin * g.inVoxels, g, iz: iz, rows: rows, txp: txp, scratch: scratch,
                                into: v, tiling: T.self)
                            for co in 0..<cout {
                                for iy in rows {
                                    transformOutputGradient(
                                        dys + co * g.outVoxels, g, adjoint: T.outputAdjoint, iz: iz, iy: iy, txp: txp,
                                        scratch: scratch, into: dm + co * tiles + (iy - rows.lowerBound) * txp,
                                        pointStride: cout * tiles)
                                }
                            }
                            for p in 0..<points {
                                BLAS.sgemm(
                                    transB: true, m: cout, n: cin, k: tiles, a: dm + p * cout * tiles, lda: tiles,
                                    b: v + p * cin * tiles, ldb: tiles, beta: 1, c: dup + p * cout * cin, ldc: cin)
                            }
                        }
                    }
                }
                slots[thread] = du
            }
        }
        var du = parts[0]
        for t in 1..<threads { for i in 0..<du.count { du[i] += parts[t][i] } }
        return du.withUnsafeBufferPointer {
            kernelGradient($0.baseAddress!, cout: cout, cin: cin, by: T.kernelTransform)
        }
    }

    /// Scratch floats of `transformOutputGradient`: the m² rows split by x mod m, then 2·t³ tile rows.
    static func gradientScratchFloats(m: Int, txp: Int) -> Int {
        let t = m + 2
        return m * m * m * (txp + lanes) + 2 * t * t * t * txp
    }

    /// dM = A·dy·Aᵀ along z, y and x for every tile in tile row (iz, iy) of one output-gradient channel
    /// `plane` [Do, Ho, Wo] (zero outside the volume), written to `out + p · pointStride + ix`.
    /// `adjoint` is A (t × m).
    static func transformOutputGradient(
        _ plane: UnsafePointer<Float>, _ g: ConvGeometry, adjoint a: [[Float]], iz: Int, iy: Int, txp: Int,
        scratch: UnsafeMutablePointer<Float>, into out: UnsafeMutablePointer<Float>, pointStride: Int
    ) {
        let t = a.count
        let m = a[0].count
        let phaseLength = txp + lanes
        let shift = m.trailingZeroBitCount  // m is 2 or 4
        let rows = scratch
        let alongX = rows + m * m * m * phaseLength
        let alongY = alongX + t * t * t * txp
        // m² output rows (zz, yy), split by x mod m: phase q holds x = m·k + q at k.
        for r in 0..<(m * m) {
            let first = rows + r &* m &* phaseLength
            first.update(repeating: 0, count: m &* phaseLength)
            let z = m &* iz &+ r >> shift
            let yv = m &* iy &+ r & (m &- 1)
            guard z < g.od && yv < g.oh else { continue }
            let src = plane + (z &* g.oh &+ yv) &* g.ow
            for xv in 0..<g.ow { first[(xv & (m &- 1)) &* phaseLength &+ xv >> shift] = src[xv] }
        }
        // out[i·os] = Σ_j A[i][j] · in[j·ss] for vectors of tiles, with A's nonzero terms listed once.
        let terms: [(i: Int, j: Int, c: Float)] = (0..<t).flatMap { i in
            (0..<m).compactMap { j in a[i][j] == 0 ? nil : (i, j, a[i][j]) }
        }
        terms.withUnsafeBufferPointer { tb in
            @inline(__always) func apply(
                _ s: UnsafePointer<Float>, _ ss: Int, _ o: UnsafeMutablePointer<Float>, _ os: Int
            ) {
                var k = 0
                for i in 0..<t {
                    var acc = Lane(repeating: 0)
                    while k < tb.count && tb[k].i == i {
                        acc += tb[k].c * load(s + tb[k].j &* ss)
                        k &+= 1
                    }
                    store(acc, o + i &* os)
                }
            }
            // Along x: row r → alongX[r·t + i].
            for r in 0..<(m * m) {
                let s = UnsafePointer(rows + r &* m &* phaseLength)
                let o = alongX + r &* t &* txp
                for ix in stride(from: 0, to: txp, by: lanes) { apply(s + ix, phaseLength, o + ix, txp) }
            }
            // Along y: (zz, i) over yy → alongY[(zz·t + i)·t + b].
            for zz in 0..<m {
                for i in 0..<t {
                    let s = UnsafePointer(alongX + (zz &* m &* t &+ i) &* txp)
                    let o = alongY + (zz &* t &+ i) &* t &* txp
                    for ix in stride(from: 0, to: txp, by: lanes) { apply(s + ix, t &* txp, o + ix, txp) }
                }
            }
            // Along z: (b, i) over zz → out[(c·t + b)·t + i].
            for b in 0..<t {
                for i in 0..<t {
                    let s = UnsafePointer(alongY + (i &* t &+ b) &* txp)
                    let o = out + (b &* t &+ i) &* pointStride
                    for ix in stride(from: 0, to: txp, by: lanes) {
                        apply(s + ix, t &* t &* txp, o + ix, t &* t &* pointStride)
                    }
                }
            }
        }
    }

    /// dW [Cout][Cin][3][3][3] = Gᵀ·dU·G along z, y and x from dU [t³][Cout][Cin]: the adjoint of
    /// `transformedKernel`.
    static func kernelGradient(_ du: UnsafePointer<Float>, cout: Int, cin: Int, by gm: [[Float]]) -> [Float] {
        let t = gm.count
        let tt = t * t
        var dw = [Float](repeating: 0, count: cout * cin * 27)
        var column = [Float](repeating: 0, count: t * tt)
        var alongZ = [Float](repeating: 0, count: 3 * tt)
        var alongY = [Float](repeating: 0, count: 9 * t)
        for co in 0..<cout {
            for ci in 0..<cin {
                for p in 0..<(t * tt) { column[p] = du[(p * cout + co) * cin + ci] }
                for kz in 0..<3 {
                    for ba in 0..<tt {  // z: t → 3
                        var acc: Float = 0
                        for c in 0..<t { acc += gm[c][kz] * column[c * tt + ba] }
                        alongZ[kz * tt + ba] = acc
                    }
                }
                for kz in 0..<3 {
                    for ky in 0..<3 {
                        for a in 0..<t {  // y: t → 3
                            var acc: Float = 0
                            for b in 0..<t { acc += gm[b][ky] * alongZ[kz * tt + b * t + a] }
                            alongY[(kz * 3 + ky) * t + a] = acc
                        }
                    }
                }
                for r in 0..<9 {
                    for kx in 0..<3 {  // x: t → 3
                        var acc: Float = 0
                        for a in 0..<t { acc += gm[a][kx] * alongY[r * t + a] }
                        dw[(co * cin + ci) * 27 + r * 3 + kx] = acc
                    }
                }
            }
        }
        return dw
    }
}
