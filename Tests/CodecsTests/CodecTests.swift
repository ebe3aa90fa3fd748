import CZstd
import Foundation
import Testing
import Voxels

@testable import Codecs

@Suite("XXH64, shuffle, codec, keys")
struct CodecTests {
    /// The key chunks of these tests are stored under (any bytes: the codec binds values to them).
    static let key: [UInt8] = [0, 0, 0, 7, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3]

    @Test("a value read under another key, or with its codec byte changed, is refused (issue 22, defect 6)")
    func valuesAreBoundToTheirKeys() throws {
        let extent = Extent3(x: 8, y: 8, z: 8)
        let v = Volume(shape: extent, values: (0..<extent.count).map { Float($0 % 13) - 6 })
        for chain in [CodecChain.raw, CodecChain(level: 3, shuffle: false), CodecChain(level: 3, shuffle: true)] {
            let codec = try PreparedChunkCodec(chain, dtype: .float32, extent: extent, contexts: CodecContexts())
            let out = ScratchBuffer()
            try v.withUnsafeBytes { try codec.encode($0, key: Self.key, into: out) }
            var back = Volume(shape: extent, dtype: .float32)
            var other = Self.key
            other[3] = 8  // the same chunk of another dataset
            #expect(throws: ChunkCorruption.self) {
                try back.withUnsafeMutableBytes { try codec.decode(out.bytes, key: other, into: $0, checksum: false) }
            }
            var region = Volume(shape: extent, dtype: .float32)
            let p = region.withUnsafeMutableBytes { $0.baseAddress! }
            #expect(throws: ChunkCorruption.self) {
                try codec.decodeRegion(
                    out.bytes, key: other, chunkBox: Box3(shape: extent), box: Box3(shape: extent), into: p)
            }
            // Shuffled zstd re-labelled as plain zstd decompresses fine: only the checksum catches it.
            var recoded = Array(out.bytes)
            recoded[3] = recoded[3] == 2 ? 1 : recoded[3] == 1 ? 2 : 1
            #expect(throws: ChunkCorruption.self) {
                try back.withUnsafeMutableBytes { dst in
                    try recoded.withUnsafeBytes { try codec.decode($0, key: Self.key, into: dst, checksum: false) }
                }
            }
            // Re-keyed for the other key, it reads there (and no longer under the first).
            let moved = ScratchBuffer()
            try codec.rekeyed(out.bytes, from: Self.key, to: other, into: moved)
            try back.withUnsafeMutableBytes { try codec.decode(moved.bytes, key: other, into: $0, checksum: false) }
            #expect(back == v)
            #expect(throws: ChunkCorruption.self) {
                try back.withUnsafeMutableBytes {
                    try codec.decode(moved.bytes, key: Self.key, into: $0, checksum: false)
                }
            }
        }
    }

    @Test("a constant chunk is a 40-byte header and one voxel, and decodes whole or in part")
    func constantChunks() throws {
        let extent = Extent3(x: 5, y: 3, z: 2)
        for dtype in DType.allCases {
            let v = Volume(shape: extent, values: [Float](repeating: 7, count: extent.count)).converted(to: dtype)
            let codec = try PreparedChunkCodec(
                CodecChain(level: 3, shuffle: true), dtype: dtype, extent: extent, contexts: CodecContexts())
            let out = ScratchBuffer()
            v.withUnsafeBytes {
                codec.encodeConstant(
                    UnsafeRawBufferPointer(rebasing: $0.prefix(dtype.byteCount)), key: Self.key, into: out)
            }
            #expect(out.count == 40 + dtype.byteCount)
            var back = Volume(shape: extent, dtype: dtype)
            try back.withUnsafeMutableBytes { try codec.decode(out.bytes, key: Self.key, into: $0, checksum: true) }
            #expect(back == v, "\(dtype)")
            let box = Box3(x: 1..<4, y: 0..<3, z: 1..<2)
            var part = Volume(shape: box.shape, dtype: dtype)
            let p = part.withUnsafeMutableBytes { $0.baseAddress! }
            try codec.decodeRegion(out.bytes, key: Self.key, chunkBox: Box3(shape: extent), box: box, into: p)
            #expect(part == v.extracting(box), "\(dtype) region")
            var damaged = Array(out.bytes)
            damaged[40] ^= 1
            #expect(throws: ChunkCorruption.self) {
                try back.withUnsafeMutableBytes { dst in
                    try damaged.withUnsafeBytes { try codec.decode($0, key: Self.key, into: dst, checksum: false) }
                }
            }
        }
    }
    @Test("XXH64 matches published test vectors")
    func xxhashVectors() {
        // Reference values from the xxHash project (XXH64, seed 0).
        #expect(XXHash64.hash([UInt8]()) == 0xEF46_DB37_51D8_E999)
        #expect(XXHash64.hash(Array("a".utf8)) == 0xD24E_C4F1_A98C_6E5B)
        #expect(XXHash64.hash(Array("abc".utf8)) == 0x44BC_2CF5_AD77_0999)
    }

    @Test("XXH64 agrees with zstd's frame content checksum on every length 0…200 and on 1 MiB")
    func xxhashAgreesWithZstd() throws {
        let rng = CounterRNG(seed: 1)
        for n in Array(0...200) + [1 << 20] {
            let bytes = (0..<n).map { UInt8(truncatingIfNeeded: rng.bits(counter: UInt64($0))) }
            let c = ZstdCompressor(level: 1)
            var frame = [UInt8](repeating: 0, count: ZstdCompressor.bound(n))
            let size = try bytes.withUnsafeBytes { src in
                try frame.withUnsafeMutableBytes { try c.compress(src, into: $0.baseAddress!, capacity: $0.count) }
            }
            // zstd stores the low 32 bits of XXH64(content) little-endian at the end of the frame.
            let stored = frame[(size - 4)..<size].enumerated().reduce(UInt32(0)) {
                $0 | UInt32($1.element) << (8 * UInt32($1.offset))
            }
            #expect(stored == UInt32(truncatingIfNeeded: XXHash64.hash(bytes)), "length \(n)")
        }
    }

    @Test("byte shuffle puts byte j of element i at j·count + i and round-trips", arguments: [1, 2, 4])
    func shuffle(width: Int) {
        let count = 37
        let src = (0..<(count * width)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        var shuffled = [UInt8](repeating: 0, count: src.count)
        var back = shuffled
        src.withUnsafeBytes { s in
            shuffled.withUnsafeMutableBytes {
                ByteShuffle.shuffle(s.baseAddress!, $0.baseAddress!, count: count, width: width)
            }
        }
        for i in 0..<count { for j in 0..<width { #expect(shuffled[j * count + i] == src[i * width + j]) } }
        shuffled.withUnsafeBytes { s in
            back.withUnsafeMutableBytes {
                ByteShuffle.unshuffle(s.baseAddress!, $0.baseAddress!, count: count, width: width)
            }
        }
        #expect(back == src)
        var run = [UInt8](repeating: 0, count: 5 * width)
        shuffled.withUnsafeBytes { s in
            run.withUnsafeMutableBytes {
                ByteShuffle.unshuffleRun(
                    s.baseAddress!, count: count, width: width, from: 11, length: 5, into: $0.baseAddress!)
            }
        }
        #expect(run == Array(src[(11 * width)..<(16 * width)]))
    }

    @Test("codec strings parse and shuffle applies to multi-byte types only")
    func codecParsing() {
        #expect(CodecChain(parsing: "raw", dtype: .float32) == .raw)
        #expect(CodecChain(parsing: "zstd", dtype: .float32) == CodecChain(level: 3, shuffle: true))
        #expect(CodecChain(parsing: "zstd:19", dtype: .uint8) == CodecChain(level: 19, shuffle: false))
        #expect(CodecChain(parsing: "zstd:5", dtype: .int16, shuffle: false) == CodecChain(level: 5, shuffle: false))
        for bad in ["zstd:0", "zstd:20", "zstd:x", "lz4", "zstd:3:1", ""] {
            #expect(CodecChain(parsing: bad, dtype: .float32) == nil, "\(bad)")
        }
    }

    @Test("chunks encode and decode in every codec and dtype; regions decode like whole chunks")
    func encodeDecode() throws {
        let extent = Extent3(x: 7, y: 5, z: 3)
        let rng = CounterRNG(seed: 4)
        for dtype in DType.allCases {
            let values = (0..<extent.count).map { Double(Int(rng.uniform(counter: UInt64($0)) * 200)) - 20 }
            let v = Volume(shape: extent, values: values.map { Float($0) }).converted(to: dtype)
            for codec in [CodecChain.raw, CodecChain(level: 1, shuffle: false), CodecChain(level: 3, shuffle: true)] {
                let out = ScratchBuffer()
                let prepared = try PreparedChunkCodec(codec, dtype: dtype, extent: extent, contexts: CodecContexts())
                try v.withUnsafeBytes { try prepared.encode($0, key: Self.key, into: out) }
                var back = Volume(shape: extent, dtype: dtype)
                try back.withUnsafeMutableBytes {
                    try prepared.decode(out.bytes, key: Self.key, into: $0, checksum: true)
                }
                #expect(back == v, "\(dtype) \(codec)")
                let chunkBox = Box3(x: 10..<17, y: 20..<25, z: 30..<33)
                let box = Box3(x: 12..<19, y: 18..<24, z: 31..<40)
                var region = Volume(shape: box.shape, dtype: dtype)
                let p = region.withUnsafeMutableBytes { $0.baseAddress! }
                try prepared.decodeRegion(out.bytes, key: Self.key, chunkBox: chunkBox, box: box, into: p)
                let overlap = chunkBox.intersection(box)!
                for z in overlap.zRange {
                    for y in overlap.yRange {
                        for x in overlap.xRange {
                            #expect(
                                region.value(x: x - box.lower.x, y: y - box.lower.y, z: z - box.lower.z)
                                    == v.value(x: x - 10, y: y - 20, z: z - 30))
                        }
                    }
                }
            }
        }
    }

    @Test("a flipped bit anywhere in an encoded chunk fails decoding or leaves the voxels right")
    func flippedBitsDetected() throws {
        let extent = Extent3(x: 16, y: 16, z: 4)
        let v = Volume(shape: extent, values: (0..<extent.count).map { Float($0 % 97) * 0.5 })
        for codec in [CodecChain.raw, CodecChain(level: 3, shuffle: true)] {
            let out = ScratchBuffer()
            let prepared = try PreparedChunkCodec(codec, dtype: .float32, extent: extent, contexts: CodecContexts())
            try v.withUnsafeBytes { try prepared.encode($0, key: Self.key, into: out) }
            let clean = Array(out.bytes)
            var detected = 0
            var tried = 0
            for position in 0..<clean.count {
                for bit in [UInt8(0x01), 0x04, 0x10, 0x80] where position % 3 == 0 || position < 60 {
                    var damaged = clean
                    damaged[position] ^= bit
                    var back = Volume(shape: extent, dtype: .float32)
                    tried += 1
                    do {
                        try back.withUnsafeMutableBytes { dst in
                            try damaged.withUnsafeBytes {
                                try prepared.decode($0, key: Self.key, into: dst, checksum: true)
                            }
                        }
                        // Undetected flips (zstd's unused header bits, our level/reserved bytes) must be harmless.
                        #expect(
                            back == v,
                            "\(codec): flip of bit \(bit) at \(position) of \(clean.count) returned wrong voxels")
                    } catch {
                        detected += 1
                    }
                }
            }
            #expect(detected > tried * 9 / 10, "\(codec): only \(detected) of \(tried) flips detected")
        }
    }
}

@Suite("Codec chains in Zarr v3 terms")
struct CodecChainTests {
    @Test("chains map to the chunk header's codec byte and back, and to Zarr v3 codec metadata")
    func chains() throws {
        for chain in [CodecChain.raw, CodecChain(level: 1, shuffle: false), CodecChain(level: 7, shuffle: true)] {
            let code = try #require(chain.headerCode)
            #expect(CodecChain(headerCode: code, level: UInt8(chain.level)) == chain)
        }
        #expect(
            CodecChain(arrayToArray: [.byteShuffle], bytesToBytes: []).headerCode == nil,
            "format 1 needs zstd after a shuffle")
        #expect(throws: ChunkCorruption.self) {
            try PreparedChunkCodec(
                CodecChain(arrayToArray: [.byteShuffle], bytesToBytes: []), dtype: .float32,
                extent: Extent3(x: 2, y: 2, z: 2), contexts: CodecContexts())
        }
        let names = CodecChain(level: 3, shuffle: true).zarrCodecs(dtype: .float32).map { $0["name"] as? String }
        #expect(names == ["bytes", "blosc"])
        #expect(
            CodecChain(level: 3, shuffle: true).zarrCodecs(dtype: .uint8).count == 2, "no shuffle for one-byte voxels")
    }
}
