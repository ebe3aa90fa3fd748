import COpenBLAS

/// Thin wrappers over OpenBLAS's single-precision GEMM (row-major).
public enum BLAS {
    /// C[M×N] = alpha · op(A)[M×K] · op(B)[K×N] + beta · C, row-major with leading dimensions.
    @inline(__always)
    public static func sgemm(
        transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
        if k == 0 {
            if beta == 0 { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
            return
        }
        cblas_sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// The number of threads OpenBLAS uses inside one call.
    public static var threads: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(newValue)) }
    }

    /// Runs `body` with OpenBLAS single-threaded (the engine parallelizes over blocks itself, so
    /// that im2col and GEMM overlap), restoring the previous setting after.
    public static func singleThreaded<R>(_ body: () throws -> R) rethrows -> R {
        let previous = threads
        if previous != 1 { threads = 1 }
        defer { if previous != 1 { threads = previous } }
        return try body()
    }
}
