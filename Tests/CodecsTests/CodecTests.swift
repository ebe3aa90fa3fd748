import CZstd
import Foundation
import Testing
import Voxels

@testable import Codecs

@Suite("XXH64, shuffle, codec, keys")
struct CodecTests {
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
                try v.withUnsafeBytes { try prepared.encode($0, into: out) }
                var back = Volume(shape: extent, dtype: dtype)
                try back.withUnsafeMutableBytes { try prepared.decode(out.bytes, into: $0, checksum: true) }
                #expect(back == v, "\(dtype) \(codec)")
                let chunkBox = Box3(x: 10..<17, y: 20..<25, z: 30..<33)
                let box = Box3(x: 12..<19, y: 18..<24, z: 31..<40)
                var region = Volume(shape: box.shape, dtype: dtype)
                let p = region.withUnsafeMutableBytes { $0.baseAddress! }
                try prepared.decodeRegion(out.bytes, chunkBox: chunkBox, box: box, into: p)
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
            try v.withUnsafeBytes { try prepared.encode($0, into: out) }
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
                            try damaged.withUnsafeBytes { try prepared.decode($0, into: dst, checksum: true) }
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
